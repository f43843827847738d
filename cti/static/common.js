// Shared by the three pages: log in, call the REST API, keep a WebSocket open (re-connecting).
"use strict";
const CC = {
  token: sessionStorage.getItem("cc.token"),
  me: JSON.parse(sessionStorage.getItem("cc.me") || "null"),
  socket: null,
  handlers: {},
  pending: {},
  nextId: 1,

  async api(method, path, body) {
    const res = await fetch(path, {
      method,
      headers: Object.assign({ "Content-Type": "application/json" },
        CC.token ? { Authorization: "Bearer " + CC.token } : {}),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = res.headers.get("content-type")?.includes("json") ? await res.json() : await res.text();
    if (!res.ok) {
      if (res.status === 401 && path !== "/api/v1/session") CC.logout(false);
      throw Object.assign(new Error(data.message || res.statusText), { errorId: data.error_id });
    }
    return data;
  },

  async login(username, password) {
    const s = await CC.api("POST", "/api/v1/session", { username, password });
    CC.token = s.token; CC.me = s;
    sessionStorage.setItem("cc.token", s.token);
    sessionStorage.setItem("cc.me", JSON.stringify(s));
    return s;
  },

  async logout(tell = true) {
    if (tell && CC.token) { try { await CC.api("DELETE", "/api/v1/session"); } catch (e) { /* gone anyway */ } }
    sessionStorage.removeItem("cc.token"); sessionStorage.removeItem("cc.me");
    CC.token = null; location.reload();
  },

  on(type, fn) { (CC.handlers[type] = CC.handlers[type] || []).push(fn); },

  connect(onStatus) {
    const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
    const ws = new WebSocket(url);
    CC.socket = ws;
    ws.onopen = () => { ws.send(JSON.stringify({ type: "auth", token: CC.token })); onStatus && onStatus("connected"); };
    ws.onmessage = (e) => {
      const msg = JSON.parse(e.data);
      if (msg.type === "cti.request-done" || msg.type === "cti.request-failed") {
        const p = CC.pending[msg.request_id];
        if (p) { delete CC.pending[msg.request_id]; msg.type === "cti.request-done" ? p.resolve(msg) : p.reject(msg); }
      }
      for (const fn of (CC.handlers[msg.type] || []).concat(CC.handlers["*"] || [])) fn(msg);
    };
    ws.onclose = (e) => {
      onStatus && onStatus("disconnected");
      if (e.code === 1008) { CC.logout(false); return; }
      setTimeout(() => CC.connect(onStatus), 1500);  // 1013 (too slow) and drops: reconnect, reload state
    };
  },

  // An action over the socket; resolves with cti.request-done, rejects with cti.request-failed.
  act(action, params = {}) {
    const request_id = "r" + (CC.nextId++);
    return new Promise((resolve, reject) => {
      CC.pending[request_id] = { resolve, reject };
      CC.socket.send(JSON.stringify(Object.assign({ request_id, action }, params)));
    });
  },

  fmtS(s) {
    if (s === null || s === undefined) return "–";
    s = Math.max(0, Math.round(s));
    const m = Math.floor(s / 60);
    return m ? `${m}:${String(s % 60).padStart(2, "0")}` : `${s}s`;
  },
  pct(x) { return x === null || x === undefined ? "–" : Math.round(x * 100) + "%"; },
  el(tag, attrs = {}, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) k === "class" ? e.className = v : e.setAttribute(k, v);
    for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
    return e;
  },

  // Wire the login form of a page; `start` runs once logged in.
  page(start) {
    const form = document.getElementById("login-form");
    const show = () => { document.getElementById("login").classList.add("hidden");
                         document.getElementById("app").classList.remove("hidden"); start(); };
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const err = document.getElementById("login-error");
      err.textContent = "";
      try { await CC.login(form.username.value, form.password.value); show(); }
      catch (x) { err.textContent = x.message; }
    });
    document.querySelectorAll("[data-logout]").forEach(b => b.addEventListener("click", () => CC.logout()));
    if (CC.token) show();
  },
};
