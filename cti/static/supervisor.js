// The supervisor view: queues, agents by state (force state, listen / whisper / barge), live calls, recordings.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  let agents = {}, calls = {};

  function btn(label, fn) { const b = CC.el("button", {}, label); b.onclick = fn; return b; }
  async function act(action, params) {
    $("error").textContent = "";
    try { await CC.act(action, params); } catch (e) { $("error").textContent = `${e.error_id}: ${e.message}`; }
  }
  function renderQueues(list) {
    $("queues").replaceChildren(...list.map(q => CC.el("tr", {},
      CC.el("td", {}, q.queue), CC.el("td", {}, q.waiting), CC.el("td", {}, CC.fmtS(q.longest_wait_s)),
      CC.el("td", {}, q.offered), CC.el("td", {}, q.answered), CC.el("td", {}, q.abandoned),
      CC.el("td", {}, CC.pct(q.service_level)), CC.el("td", {}, CC.fmtS(q.asa_s)), CC.el("td", {}, CC.pct(q.abandon_rate)))));
  }
  function renderAgents() {
    const now = Date.now() / 1000;
    const rows = Object.values(agents).sort((a, b) => a.agent_id.localeCompare(b.agent_id)).map(a => {
      const spy = (mode) => btn(mode, () => act("spy", { agent_id: a.agent_id, mode, phone: $("phone").value || undefined }));
      return CC.el("tr", {}, CC.el("td", {}, a.agent_id),
        CC.el("td", {}, CC.el("span", { class: "state " + a.state }, a.state)),
        CC.el("td", {}, CC.fmtS(now - a.since)), CC.el("td", {}, a.reason || ""), CC.el("td", {}, a.call_id || ""),
        CC.el("td", {}, a.answered ?? 0),
        CC.el("td", {}, btn("ready", () => act("force-state", { agent_id: a.agent_id, state: "ready" })),
          btn("not ready", () => act("force-state", { agent_id: a.agent_id, state: "not-ready", reason: "supervisor" })),
          btn("log out", () => act("force-state", { agent_id: a.agent_id, state: "logged-out" })),
          spy("listen"), spy("whisper"), spy("barge")));
    });
    $("agents").replaceChildren(...rows);
  }
  function renderCalls() {
    const rows = Object.values(calls).filter(c => c.state !== "ended").map(c => CC.el("tr", {},
      CC.el("td", {}, c.call_id), CC.el("td", {}, c.ani || ""), CC.el("td", {}, c.dnis || ""),
      CC.el("td", {}, c.queue || ""), CC.el("td", {}, c.priority_class || ""), CC.el("td", {}, c.state || ""),
      CC.el("td", {}, (c.agents || []).join(", ")),
      CC.el("td", {}, btn("why?", async () => {
        try { $("explain").textContent = await CC.api("GET", `/api/v1/calls/${encodeURIComponent(c.call_id)}/explanation`) || "(no routing decision yet)"; }
        catch (e) { $("explain").textContent = e.message; }
      }))));
    $("calls").replaceChildren(...rows);
  }
  async function reload() {
    const byState = await CC.api("GET", "/api/v1/agents");
    agents = {};
    for (const list of Object.values(byState)) for (const a of list) agents[a.agent_id] = a;
    calls = {};
    for (const c of await CC.api("GET", "/api/v1/calls")) calls[c.call_id] = c;
    renderQueues(await CC.api("GET", "/api/v1/queues")); renderAgents(); renderCalls();
  }
  // Recordings: the latest, or transcript search; play through a short-lived link (an <audio>
  // element cannot send the Authorization header); every playback is in the audit shown below.
  async function recordings() {
    $("rec-error").textContent = "";
    const q = $("rec-q").value.trim();
    try {
      const rows = q ? await CC.api("GET", "/api/v1/recordings/search?q=" + encodeURIComponent(q))
                     : await CC.api("GET", "/api/v1/recordings?limit=20");
      $("recordings").replaceChildren(...rows.map(r => CC.el("tr", {},
        CC.el("td", {}, r.recording_id), CC.el("td", {}, r.call_id),
        CC.el("td", {}, q ? r.speaker : (r.agent_id || "")),
        CC.el("td", {}, q ? CC.fmtS(r.start_s) : new Date(r.started_at * 1000).toLocaleString()),
        CC.el("td", {}, q ? r.text : `${CC.fmtS(r.duration_s)} ${(r.flagged || []).join(", ")}`),
        CC.el("td", {}, btn("play", () => play(r.recording_id)), btn("audit", () => audit(r.recording_id))))));
    } catch (e) { $("rec-error").textContent = e.message; }
  }
  async function play(id) {
    try {
      const link = await CC.api("POST", `/api/v1/recordings/${encodeURIComponent(id)}/link`);
      $("rec-player").src = link.url; await $("rec-player").play();
    } catch (e) { $("rec-error").textContent = e.message; }
  }
  async function audit(id) {
    try {
      const rows = await CC.api("GET", "/api/v1/recordings/audit?recording_id=" + encodeURIComponent(id));
      $("rec-audit").textContent = rows.map(a => `${new Date(a.at * 1000).toLocaleString()}  ${a.username} (${a.role}) `
        + `${a.action} ${a.byte_range || "whole file"} from ${a.address}: ${a.status}`).join("\n") || "(never played)";
    } catch (e) { $("rec-audit").textContent = e.message; }
  }
  const callState = { "call.queued": "queued", "call.offered": "ringing", "call.answered": "talking",
                      "channel.held": "held", "channel.unheld": "talking", "call.ended": "ended" };

  CC.page(() => {
    $("who").textContent = `${CC.me.name} (${CC.me.role})`;
    CC.on("cti.welcome", () => reload().catch(e => $("error").textContent = e.message));
    CC.on("cti.queue-stats", (m) => renderQueues(m.queues));
    CC.on("agent.state-changed", (m) => {
      const a = agents[m.agent_id] = Object.assign(agents[m.agent_id] || { agent_id: m.agent_id }, { state: m.new, since: m.at, reason: m.reason });
      a.call_id = ["reserved", "on-call", "wrap-up", "outbound"].includes(m.new) ? m.call_id : null;
      renderAgents();
    });
    CC.on("*", (m) => {
      if (!m.call_id) return;
      const c = calls[m.call_id] = calls[m.call_id] || { call_id: m.call_id, agents: [] };
      if (m.type === "call.arrived") Object.assign(c, { ani: m.ani, dnis: m.dnis, state: "arrived" });
      if (m.type === "call.queued") Object.assign(c, { queue: m.request.queue, priority_class: m.request.priority_class });
      if ((m.type === "call.offered" || m.type === "call.answered") && !c.agents.includes(m.agent_id)) c.agents.push(m.agent_id);
      if (callState[m.type]) c.state = callState[m.type];
      renderCalls();
    });
    CC.connect((s) => { $("link").textContent = s; });
    setInterval(renderAgents, 1000);
    $("rec-form").onsubmit = (e) => { e.preventDefault(); recordings(); };
    recordings();
  });
})();
