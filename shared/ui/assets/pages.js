// The four pages: deployments, runs, a run, a task. Each `render*` fills `main` and returns a
// function that stops its polling. Every piece of data is rendered as text (dom.js).

import { get, seg } from "./api.js";
import { el, fill, fmtTime, fmtDuration, fmtBytes, pill, show } from "./dom.js";
import { drawDag } from "./dag.js";
import { drawGantt } from "./gantt.js";

// While something runs, pages refresh this often (ms): a task's change shows within it plus
// one request.
const LIVE_MS = 1000;
const SLOW_MS = 5000;

const runLink = (flow, run) => `runs/${seg(flow)}/${seg(run)}`;
const stepLink = (flow, run, step) => `${runLink(flow, run)}/${seg(step)}`;
const taskLink = (flow, run, step, task) => `${stepLink(flow, run, step)}/${seg(task)}`;

// Poll `tick` (async) every `ms` until stopped; `tick` returns false to stop.
function poll(tick, ms) {
  let stopped = false;
  let timer = null;
  const loop = async () => {
    if (stopped) return;
    let again = true;
    try {
      again = (await tick()) !== false;
    } catch (e) {
      if (e && e.name === "KeyNeeded") throw e;
      again = true;
    }
    if (!stopped && again) timer = setTimeout(loop, typeof ms === "function" ? ms() : ms);
  };
  timer = setTimeout(loop, typeof ms === "function" ? ms() : ms);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

// A failed first load: the message in `box` (a missing API key goes up to the key form).
const report = (box) => (e) => {
  if (e && e.name === "KeyNeeded") throw e;
  fill(box, el("p", { class: "error" }, e.message));
};

function section(title, ...children) {
  return el("section", { class: "card" }, el("h2", {}, title), ...children);
}

function table(headers, rows, attrs) {
  return el(
    "table",
    attrs || {},
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", {}, h)))),
    el("tbody", {}, rows),
  );
}

// ---------------------------------------------------------------- deployments

function startsBy(d) {
  const out = [];
  if (d.schedule) {
    const s = d.schedule;
    out.push(
      el(
        "div",
        { class: "schedule", "data-schedule": s.expression },
        el("code", {}, `cron(${s.expression})`),
        " ",
        el("span", { class: "tz" }, s.timezone || "UTC"),
      ),
    );
    const next = (s.next || [])[0];
    if (next) {
      out.push(el("div", { class: "muted next-fire", "data-next-fire": next.utc }, `next: ${next.local_text}`));
    }
  }
  for (const t of d.triggers || []) {
    out.push(el("div", { class: "trigger", "data-trigger": show(t.name ?? t.event ?? t) }, "on ", el("code", {}, show(t.name ?? t.event ?? t.flow ?? t))));
  }
  if (!out.length) out.push(el("span", { class: "muted" }, "ferry trigger"));
  return out;
}

function strip(d) {
  const cells = (d.recent || [])
    .slice()
    .reverse()
    .map((r) =>
      el("a", {
        href: runLink(d.flow, r.run_id),
        class: `cell s-${r.status}`,
        "data-status": r.status,
        title: `${r.run_id}: ${r.status}, ${fmtTime(r.started_at)}`,
      }),
    );
  return el("div", { class: "strip" }, cells.length ? cells : el("span", { class: "muted" }, "no run yet"));
}

export function renderDeployments(main) {
  const body = el("div", {}, el("p", { class: "muted" }, "Loading…"));
  fill(main, el("h1", {}, "Deployments"), body);
  const draw = async () => {
    const data = await get("deployments");
    const rows = data.deployments.map((d) =>
      el(
        "tr",
        { "data-deployment": d.deployment },
        el("td", {}, el("a", { href: `runs?deployment=${encodeURIComponent(d.deployment)}` }, d.deployment)),
        el("td", {}, d.flow),
        el("td", {}, d.project ? `${d.project} / ${d.branch || ""}` : "—"),
        el("td", {}, d.owner),
        el("td", {}, startsBy(d)),
        el("td", { class: "num" }, String(d.runs)),
        el("td", {}, strip(d)),
      ),
    );
    fill(
      body,
      rows.length
        ? table(["deployment", "flow", "project / branch", "owner", "starts on", "runs", "recent runs (oldest → newest)"], rows, { class: "deployments" })
        : el("p", { class: "muted" }, "Nothing deployed yet: ferry deploy FLOW.py"),
    );
  };
  draw().catch(report(body));
  return poll(draw, SLOW_MS);
}

// ---------------------------------------------------------------- runs

export function renderRuns(main, query) {
  const params = Object.fromEntries(query.entries());
  const form = el(
    "form",
    { class: "filters", id: "run-filters" },
    el("label", {}, "status ", el("select", { name: "status" },
      ["", "running", "succeeded", "failed", "timed_out", "aborted"].map((s) =>
        el("option", { value: s, selected: params.status === s }, s || "any")))),
    el("label", {}, "deployment ", el("select", { name: "deployment" }, el("option", { value: "" }, "any"))),
    el("label", {}, "tag ", el("input", { name: "tag", value: params.tag || "", size: 14 })),
    el("label", {}, "since ", el("input", { name: "since", type: "date", value: params.since || "" })),
    el("label", {}, "until ", el("input", { name: "until", type: "date", value: params.until || "" })),
    el("label", {}, "run id ", el("input", { name: "q", value: params.q || "", size: 18, placeholder: "sfn-… or Flow/run" })),
    el("button", { type: "submit" }, "Filter"),
  );
  const body = el("div", {}, el("p", { class: "muted" }, "Loading…"));
  fill(main, el("h1", {}, "Runs"), form, body);
  get("deployments").then((d) => {
    const sel = form.elements.deployment;
    for (const x of d.deployments) {
      sel.append(el("option", { value: x.deployment, selected: params.deployment === x.deployment }, x.deployment));
    }
  }).catch(() => {});
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(form).entries()) if (v) q.set(k, v);
    window.ferryNavigate(`runs${q.toString() ? "?" + q : ""}`);
  });
  const draw = async () => {
    const data = await get("runs", params);
    if (data.redirect) {
      window.ferryNavigate(data.redirect, true);
      return false;
    }
    const rows = data.runs.map((r) =>
      el(
        "tr",
        { "data-run": r.run_id },
        el("td", {}, el("a", { href: runLink(r.flow, r.run_id) }, r.run_id)),
        el("td", {}, r.flow),
        el("td", {}, r.deployment),
        el("td", {}, pill(r.status)),
        el("td", {}, fmtTime(r.started_at)),
        el("td", {}, fmtDuration((r.stopped_at ? Date.parse(r.stopped_at) : Date.now()) - Date.parse(r.started_at))),
        el("td", {}, (r.tags || []).map((t) => el("span", { class: "chip" }, t))),
        el("td", {}, r.failing_step || ""),
      ),
    );
    const offset = data.offset;
    const pager = el(
      "div",
      { class: "pager" },
      `${data.total ? offset + 1 : 0}–${offset + data.runs.length} of ${data.total}`,
      offset > 0 ? el("a", { href: `runs?${new URLSearchParams({ ...params, offset: Math.max(0, offset - data.limit) })}` }, "← newer") : null,
      offset + data.runs.length < data.total ? el("a", { href: `runs?${new URLSearchParams({ ...params, offset: offset + data.limit })}` }, "older →") : null,
    );
    fill(
      body,
      pager,
      rows.length ? table(["run", "flow", "deployment", "status", "started", "duration", "tags", "failed step"], rows, { class: "runs" }) : el("p", { class: "muted" }, "No run matches."),
    );
    return true;
  };
  draw().catch(report(body));
  return poll(draw, SLOW_MS);
}

// ---------------------------------------------------------------- a run

function failureBox(flow, run, f) {
  if (!f) return null;
  const head = el(
    "p",
    { class: "failure-head" },
    "Failed in step ",
    el("strong", { "data-failing-step": f.step || "" }, f.step || "unknown"),
    f.task ? [" (task ", el("a", { href: taskLink(flow, run, f.step, f.task) }, f.task), ")"] : null,
  );
  const why = [f.error, f.reason, f.exit_code !== null && f.exit_code !== undefined ? `exit code ${f.exit_code}` : null]
    .filter((x) => x !== null && x !== undefined && x !== "")
    .join(" — ");
  return el(
    "section",
    { class: "card failure", id: "failure" },
    el("h2", {}, "Failure"),
    head,
    why ? el("p", { class: "failure-error" }, why) : null,
    f.log ? [el("p", { class: "muted" }, `${f.log.stream} of ${f.log.pathspec} (attempt ${f.log.attempt})${f.log.truncated ? ", last lines" : ""}:`), el("pre", { class: "log failure-log" }, f.log.text)] : null,
    !f.log && f.cause ? el("pre", { class: "log" }, f.cause) : null,
  );
}

function stepRows(run) {
  const order = run.dag.nodes.map((n) => n.name);
  return order
    .map((name) => ({ name, s: run.steps[name] || {} }))
    .filter((x) => x.s.started_ms)
    .sort((a, b) => a.s.started_ms - b.s.started_ms)
    .map(({ name, s }) => ({
      key: name,
      label: `${name} (${s.tasks})`,
      start: s.started_ms,
      end: s.status === "running" ? null : s.finished_ms,
      status: s.status,
    }));
}

export function renderRun(main, flow, run, selected) {
  const head = el("div", {});
  const failure = el("div", {});
  const graph = el("div", { class: "graph-wrap" });
  const timeline = el("div", {});
  const details = el("div", { class: "grid" });
  const stepPanel = el("div", {});
  fill(main, head, failure, section("Graph", graph), section("Timeline", timeline), stepPanel, details);
  // The selected step's task page: a cursor from the server (`after` / `before` a task id) and
  // where the page starts, for its label.
  let taskCursor = {};
  let taskOffset = 0;
  let lastRun = null;

  const drawStep = async () => {
    if (!selected || !lastRun) {
      fill(stepPanel);
      return;
    }
    const data = await get(`runs/${seg(flow)}/${seg(run)}/steps/${seg(selected)}/tasks`, { ...taskCursor, offset: taskOffset, limit: 100 });
    const t0 = lastRun.started_ms;
    const t1 = lastRun.finished_ms || lastRun.now_ms;
    const bars = data.tasks.map((t) => ({ key: t.task_id, label: t.task_id, start: t.started_ms, end: t.finished_ms, status: t.state }));
    const rows = data.tasks.map((t) =>
      el(
        "tr",
        { "data-task": t.task_id, "data-state": t.state },
        el("td", {}, el("a", { href: taskLink(flow, run, selected, t.task_id) }, t.task_id)),
        el("td", {}, pill(t.state)),
        el("td", { class: "num" }, String(t.attempt)),
        el("td", {}, fmtTime(t.started_ms)),
        el("td", {}, fmtDuration((t.finished_ms || lastRun.now_ms) - t.started_ms)),
      ),
    );
    const pager = el(
      "div",
      { class: "pager" },
      `tasks ${data.total ? data.offset + 1 : 0}–${data.offset + data.tasks.length} of ${data.total}`,
      data.prev !== null ? el("button", { type: "button", "data-page": "prev" }, "←") : null,
      data.next !== null ? el("button", { type: "button", "data-page": "next" }, "→") : null,
    );
    pager.addEventListener("click", (ev) => {
      const b = ev.target.closest("button");
      if (!b) return;
      if (b.dataset.page === "next") {
        taskCursor = { after: data.next };
        taskOffset += data.tasks.length;
      } else {
        taskCursor = { before: data.prev };
        taskOffset = Math.max(0, taskOffset - data.limit);
      }
      drawStep();
    });
    fill(
      stepPanel,
      section(
        `Step ${selected}`,
        pager,
        bars.length ? drawGantt(bars, t0, t1, "data-gantt-task") : null,
        table(["task", "state", "attempt", "started", "duration"], rows, { class: "tasks", "data-step-tasks": selected }),
      ),
    );
  };

  const draw = async () => {
    const r = await get(`runs/${seg(flow)}/${seg(run)}`);
    lastRun = r;
    const started = r.started_ms;
    const ended = r.finished_ms;
    fill(
      head,
      el("h1", {}, el("span", { class: "flow" }, r.flow), " / ", el("span", { class: "run-id" }, r.run_id), " ", el("span", { id: "run-status" }, pill(r.status))),
      el(
        "p",
        { class: "muted" },
        r.deployment ? ["deployment ", el("a", { href: `runs?deployment=${encodeURIComponent(r.deployment.name)}` }, r.deployment.name), " · "] : null,
        `started ${fmtTime(started)} · `,
        ended ? `took ${fmtDuration(ended - started)}` : `running for ${fmtDuration(r.now_ms - started)}`,
      ),
    );
    fill(failure, failureBox(r.flow, r.run_id, r.failure));
    // The end of a failed task's log says why: show it.
    for (const pre of failure.querySelectorAll("pre.log")) pre.scrollTop = pre.scrollHeight;
    fill(graph, drawDag(r.dag, r.steps, selected, (s) => stepLink(r.flow, r.run_id, s)));
    const rows = stepRows(r);
    fill(timeline, rows.length ? drawGantt(rows, started, ended || r.now_ms, "data-gantt-step") : el("p", { class: "muted" }, "No task yet."));
    const params = table(
      ["parameter", "value", ""],
      r.parameters.map((p) => el("tr", { "data-parameter": p.name }, el("td", {}, p.name), el("td", { class: "value" }, show(p.value)), el("td", { class: "muted" }, p.source))),
      { class: "parameters" },
    );
    const tags = el(
      "div",
      { class: "tags" },
      r.tags.map((t) => el("span", { class: "chip", "data-tag": t }, t)),
      r.system_tags.map((t) => el("span", { class: "chip system" }, t)),
    );
    const trig = r.trigger
      ? el("div", { class: "trigger", "data-trigger-kind": r.trigger.kind }, el("p", {}, r.trigger.text), r.trigger.details ? el("pre", { class: "log" }, JSON.stringify(r.trigger.details, null, 2)) : null)
      : el("p", { class: "muted" }, "not started by Ferry");
    fill(
      details,
      section("Parameters", r.parameters.length ? params : el("p", { class: "muted" }, "none")),
      section("Tags", tags, r.user ? el("p", { class: "muted" }, `user ${r.user}`) : null),
      section("Trigger", trig),
    );
    await drawStep();
    return true;
  };
  draw().catch(report(head));
  return poll(draw, () => (lastRun && lastRun.status !== "running" ? SLOW_MS : LIVE_MS));
}

// ---------------------------------------------------------------- a task

export function renderTask(main, flow, run, step, task) {
  const head = el("div", {});
  const logBox = el("div", {});
  const rest = el("div", {});
  fill(main, head, logBox, rest);
  let stream = "stdout";
  let attempt = null;
  let size = 0;
  let text = "";
  let state = "running";
  const pre = el("pre", { class: "log", id: "log" });
  const controls = el("div", { class: "log-controls" });
  const base = `runs/${seg(flow)}/${seg(run)}/steps/${seg(step)}/tasks/${seg(task)}`;

  const loadLog = async (reset) => {
    if (reset) {
      size = 0;
      text = "";
    }
    const l = await get(`${base}/logs`, { stream, attempt, after: size });
    if (l.offset < size || reset) text = "";
    text = l.offset === 0 ? l.text : text + l.text;
    size = l.size;
    state = l.state;
    const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.textContent = text || "(empty)";
    // Follow the end while it grows (tail), unless the reader scrolled up.
    if (atEnd || reset) pre.scrollTop = pre.scrollHeight;
    pre.dataset.stream = stream;
    pre.dataset.attempt = l.attempt ?? "";
    fill(
      controls,
      ["stdout", "stderr"].map((s) => el("button", { type: "button", class: s === stream ? "on" : "", "data-stream": s }, s)),
      " attempt ",
      el("select", { id: "attempt" }, el("option", { value: "" }, "latest"), (l.attempts || []).map((a) => el("option", { value: a, selected: attempt === a }, String(a)))),
      l.source === "raw" ? el("span", { class: "muted" }, " (raw process output)") : null,
      state === "running" ? el("span", { class: "live" }, " ● live") : null,
    );
    return true;
  };
  controls.addEventListener("click", (ev) => {
    const b = ev.target.closest("button[data-stream]");
    if (!b) return;
    stream = b.dataset.stream;
    loadLog(true);
  });
  controls.addEventListener("change", (ev) => {
    if (ev.target.id !== "attempt") return;
    attempt = ev.target.value === "" ? null : Number(ev.target.value);
    loadLog(true);
  });
  fill(logBox, section("Logs", controls, pre));

  const draw = async () => {
    const t = await get(base);
    fill(
      head,
      el("h1", {}, el("a", { href: stepLink(flow, run, step) }, `${flow} / ${run} / ${step}`), " / ", el("span", { class: "task-id" }, t.task_id), " ", pill(t.state)),
      el("p", { class: "muted" }, `started ${fmtTime(t.started_ms)} · attempt ${t.attempt}`),
    );
    const attempts = table(
      ["attempt", "started", "finished", "result"],
      t.attempts.map((a) => el("tr", {}, el("td", {}, String(a.attempt)), el("td", {}, fmtTime(a.started_ms)), el("td", {}, fmtTime(a.finished_ms)), el("td", {}, a.ok === null ? "running" : a.ok ? "ok" : "failed"))),
    );
    const arts = table(
      ["artifact", "type", "size", "encoding", "attempt"],
      t.artifacts.map((a) => el("tr", { "data-artifact": a.name }, el("td", {}, a.name), el("td", {}, show(a.type)), el("td", { class: "num" }, fmtBytes(a.size)), el("td", {}, show(a.encoding)), el("td", { class: "num" }, String(a.attempt)))),
      { class: "artifacts" },
    );
    const md = table(
      ["field", "value", "type", "time"],
      t.metadata.map((m) => el("tr", {}, el("td", {}, m.field_name), el("td", { class: "value" }, show(m.value)), el("td", {}, m.type), el("td", {}, fmtTime(m.ts_epoch)))),
      { class: "metadata" },
    );
    fill(
      rest,
      section("Attempts", t.attempts.length ? attempts : el("p", { class: "muted" }, "none reported")),
      section("Artifacts", t.artifacts.length ? arts : el("p", { class: "muted" }, "none")),
      section("Metadata", md),
    );
    return true;
  };
  draw().catch(report(head));
  loadLog(true).catch((e) => {
    if (e && e.name === "KeyNeeded") throw e;
    pre.textContent = e.message;
  });
  const stopInfo = poll(draw, () => (state === "running" ? LIVE_MS : SLOW_MS));
  const stopLog = poll(() => loadLog(false), () => (state === "running" ? LIVE_MS : SLOW_MS));
  return () => {
    stopInfo();
    stopLog();
  };
}
