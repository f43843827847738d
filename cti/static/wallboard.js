// The wallboard: one tile per queue, refreshed by cti.queue-stats frames (no page reload).
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  function fig(label, value, cls) { return CC.el("div", {}, CC.el("span", {}, label), CC.el("b", cls ? { class: cls } : {}, value)); }
  function render(queues) {
    $("app").replaceChildren(...queues.map(q => CC.el("div", { class: "tile", "data-queue": q.queue },
      CC.el("h2", {}, q.queue),
      CC.el("div", { class: "big " + (q.waiting ? "bad" : "good") }, q.waiting, CC.el("span", { class: "muted" }, " waiting")),
      CC.el("div", { class: "figs" },
        fig("longest wait", CC.fmtS(q.longest_wait_s)), fig("service level", CC.pct(q.service_level),
          q.service_level === null ? "" : q.service_level >= 0.8 ? "good" : "bad"),
        fig("ASA", CC.fmtS(q.asa_s)), fig("abandoned", CC.pct(q.abandon_rate)),
        fig("answered", q.answered), fig("agents ready / busy", `${q.agents_ready} / ${q.agents_busy}`)))));
  }
  CC.page(() => {
    CC.on("cti.welcome", async () => render(await CC.api("GET", "/api/v1/queues")));
    CC.on("cti.queue-stats", (m) => render(m.queues));
    CC.connect((s) => { $("link").textContent = s; });
    setInterval(() => { $("clock").textContent = new Date().toLocaleTimeString(); }, 1000);
  });
})();
