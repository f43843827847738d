// The agent desktop: state buttons, the screen pop, call control, wrap-up and campaign previews.
"use strict";
(() => {
  let state = "logged-out", since = Date.now() / 1000, call = null, calls = {}, preview = null;
  const $ = (id) => document.getElementById(id);

  function log(text) {
    const line = CC.el("div", {}, new Date().toLocaleTimeString() + "  " + text);
    $("log").prepend(line);
    while ($("log").childNodes.length > 200) $("log").lastChild.remove();
  }
  function fail(e) { $("error").textContent = e.message || `${e.error_id}: ${e.message}`; }
  async function act(action, params) {
    $("error").textContent = "";
    try { await CC.act(action, params); } catch (e) { fail(e); }
  }
  async function recording(action) {
    $("error").textContent = "";
    try { await CC.api("POST", `/api/v1/calls/${encodeURIComponent(call.call_id)}/recording/${action}`); } catch (e) { fail(e); }
  }
  function dl(target, rows) {
    target.replaceChildren();
    for (const [k, v, cls] of rows) { target.append(CC.el("dt", {}, k), CC.el("dd", cls ? { class: cls } : {}, v ?? "–")); }
  }
  function renderState() {
    const s = $("state");
    s.textContent = state; s.className = "state " + state;
    $("since").textContent = "for " + CC.fmtS(Date.now() / 1000 - since);
    $("btn-login").disabled = state !== "logged-out";
    $("btn-ready").disabled = !["not-ready", "wrap-up"].includes(state);
    $("btn-notready").disabled = ["logged-out", "not-ready"].includes(state);
    $("btn-logout").disabled = !["not-ready", "ready", "wrap-up"].includes(state);
  }
  function renderCalls() {
    const rows = Object.values(calls).slice(-15).reverse().map(c =>
      CC.el("tr", {}, CC.el("td", {}, c.call_id), CC.el("td", {}, c.ani || ""), CC.el("td", {}, c.queue || ""),
            CC.el("td", {}, c.state || ""), CC.el("td", {}, c.disposition || "")));
    $("calls").replaceChildren(...rows);
  }
  function renderPop() {
    if (!call) { $("pop").classList.add("hidden"); $("nocall").classList.remove("hidden"); return; }
    $("pop").classList.remove("hidden"); $("nocall").classList.add("hidden");
    $("pop").classList.toggle("ringing", call.state === "ringing");
    $("pop-state").textContent = "· " + call.state;
    dl($("pop-call"), [
      ["Call id", call.call_id], ["ANI (caller)", call.ani], ["DNIS (dialled)", call.dnis],
      ["Queue", call.queue], ["Priority class", call.priority_class, call.priority_class === "vip" ? "vip" : ""],
      ["Waited", CC.fmtS(call.waited_s)], ["IVR", (call.ivr_flow || "") + " " + (call.ivr_path || []).join(" › ")],
      ["IVR inputs", (call.ivr_inputs || []).map(([n, v]) => `${n}=${v}`).join(", ")],
      ["Routing", call.routing_summary],
      ["Recording", call.recording_id && (call.recording_id + (call.recording_paused ? " (paused)" : "")),
       call.recording_paused ? "bad" : ""],
    ]);
    const c = call.customer;
    dl($("pop-customer"), c ? [
      ["Name", c.name], ["Tier", c.tier, ["vip", "star5"].includes(c.tier) ? "vip" : ""], ["Segment", c.segment],
      ["Account", c.account_number], ["Plan", c.plan], ["Balance", "¥ " + c.balance],
      ["Open complaints", c.open_complaints, c.open_complaints ? "bad" : ""],
    ] : [["Customer", "unknown caller"]]);
    $("pop-history").textContent = c && c.last_interactions.length ? "Last calls: " + c.last_interactions.map(i =>
      `${new Date(i.at * 1000).toLocaleDateString()} ${i.queue || ""} ${i.outcome} ${i.disposition}`).join(" · ") : "";
    $("btn-answer").disabled = call.state !== "ringing";
    $("btn-hold").disabled = call.state !== "talking";
    $("btn-unhold").disabled = call.state !== "held";
    $("btn-hangup").disabled = !["talking", "held", "ringing"].includes(call.state);
    $("btn-transfer").disabled = !["talking", "held"].includes(call.state);
    $("btn-rec-pause").disabled = !["talking", "held"].includes(call.state) || !!call.recording_paused;
    $("btn-rec-resume").disabled = !["talking", "held"].includes(call.state) || !call.recording_paused;
    $("btn-wrapup").disabled = !["ended", "wrap-up"].includes(call.state);
  }
  function renderPreview() {
    $("preview").classList.toggle("hidden", !preview);
    if (!preview) return;
    $("preview-campaign").textContent = "· campaign " + preview.campaign_id;
    dl($("preview-card"), [["Name", preview.name], ["Number", preview.number], ["Customer", preview.customer_id],
                           ["Contact", preview.contact_id]]);
    $("preview-script").textContent = preview.script;
  }
  // The offer is gone once answered: the dialer offers the next contact (or dials this one).
  async function answerPreview(action) {
    const offer = preview;
    preview = null; renderPreview();
    await act(action, { contact_id: offer.contact_id });
  }
  async function refreshStats() {
    try {
      const me = await CC.api("GET", "/api/v1/me");
      dl($("stats"), [["Offered", me.stats.offered], ["Answered", me.stats.answered],
                      ["Talk time", CC.fmtS(me.stats.talk_s)], ["Calls today", me.stats.calls]]);
    } catch (e) { /* shown on next action */ }
  }
  function setCall(id, patch) {
    calls[id] = Object.assign(calls[id] || { call_id: id }, patch);
    if (call && call.call_id === id) Object.assign(call, patch);
    renderPop(); renderCalls();
  }

  CC.page(() => {
    $("who").textContent = `${CC.me.name} (${CC.me.username}, ${CC.me.interface || "no phone"})`;
    CC.on("cti.welcome", (m) => {
      state = m.agent.state; since = m.agent.since || Date.now() / 1000;
      for (const c of m.calls) calls[c.call_id] = c;
      const live = m.calls.filter(c => c.state !== "ended").pop();
      if (live) call = Object.assign({}, live);
      renderState(); renderCalls(); renderPop(); refreshStats();
    });
    CC.on("agent.state-changed", (m) => {
      if (m.agent_id !== CC.me.agent_id) return;
      state = m.new; since = m.at; renderState(); log(`state ${m.old} → ${m.new} ${m.reason}`);
      if (m.new === "ready" && call && call.state === "ended") { call = null; renderPop(); }
      if (m.reason === "rona" && call && call.call_id === m.call_id) { log("missed call " + m.call_id); call = null; renderPop(); }
      if (m.new === "wrap-up" && call && call.call_id === m.call_id && call.state !== "ended") setCall(m.call_id, { state: "wrap-up" });
      refreshStats();
    });
    CC.on("cti.screen-pop", (m) => {
      call = Object.assign({ state: "ringing" }, m); calls[m.call_id] = Object.assign(calls[m.call_id] || {}, m, { state: "ringing" });
      log(`screen pop: ${m.ani} → ${m.dnis} (${m.queue || "?"})`); renderPop(); renderCalls();
    });
    CC.on("call.answered", (m) => { setCall(m.call_id, { state: "talking" }); log("answered " + m.call_id); });
    CC.on("channel.held", (m) => setCall(m.call_id, { state: "held" }));
    CC.on("channel.unheld", (m) => setCall(m.call_id, { state: "talking" }));
    CC.on("recording.started", (m) => setCall(m.call_id, { recording_id: m.recording_id }));
    CC.on("recording.paused", (m) => { setCall(m.call_id, { recording_paused: true }); log(`recording paused by ${m.by}`); });
    CC.on("recording.resumed", (m) => { setCall(m.call_id, { recording_paused: false }); log(`recording resumed by ${m.by}`); });
    CC.on("call.transferred", (m) => log(`transferred ${m.call_id} to ${m.target}`));
    CC.on("call.ended", (m) => { setCall(m.call_id, { state: "ended" }); log(`call ${m.call_id} ended (${m.hangup_side})`); });
    CC.on("agent.wrap-up-ended", (m) => { setCall(m.call_id, { disposition: m.disposition }); });
    CC.on("campaign.preview-offered", (m) => {
      if (m.agent_id !== CC.me.agent_id) return;
      preview = m; renderPreview(); log(`preview: ${m.name || m.contact_id} (${m.number})`);
    });
    CC.on("campaign.preview-withdrawn", (m) => {
      if (m.agent_id !== CC.me.agent_id || !preview || preview.contact_id !== m.contact_id) return;
      preview = null; renderPreview(); log("preview withdrawn: " + m.contact_id);
    });
    CC.on("cti.request-failed", (m) => { if (!CC.pending[m.request_id]) fail(m); });
    CC.connect((s) => { $("link").textContent = s; });
    setInterval(renderState, 1000);

    $("btn-login").onclick = () => act("login");
    $("btn-ready").onclick = () => act("ready");
    $("btn-notready").onclick = () => act("not-ready", { reason: $("reason").value });
    $("btn-logout").onclick = () => act("logout");
    $("btn-answer").onclick = () => act("answer", { call_id: call.call_id });
    $("btn-hold").onclick = () => act("hold", { call_id: call.call_id });
    $("btn-unhold").onclick = () => act("unhold", { call_id: call.call_id });
    $("btn-hangup").onclick = () => act("hangup", { call_id: call.call_id });
    // Not WebSocket actions: the recordings API (cti/recordings.py); the recorder answers with recording.paused/resumed.
    $("btn-rec-pause").onclick = () => recording("pause");
    $("btn-rec-resume").onclick = () => recording("resume");
    $("btn-transfer").onclick = () => act("transfer", { call_id: call.call_id, kind: $("xfer-kind").value,
                                                        to: $("xfer-to").value, target: $("xfer-target").value });
    $("btn-wrapup").onclick = async () => {
      await act("wrap-up", { call_id: call.call_id, disposition: $("disposition").value, notes: $("notes").value });
      if (!$("error").textContent) { setCall(call.call_id, { disposition: $("disposition").value }); call = null; $("notes").value = ""; renderPop(); }
    };
    $("btn-preview-call").onclick = () => answerPreview("preview-call");
    $("btn-preview-skip").onclick = () => answerPreview("preview-skip");
    $("btn-callback").onclick = () => act("callback", { call_id: call.call_id, number: $("cb-number").value });
  });
})();
