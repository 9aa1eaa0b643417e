// Timelines as SVG: one bar per step (first task start to last task end) and, for a selected
// step, one bar per task of the page of tasks shown. Never a row per task of the whole run.

import { svg, fmtDuration } from "./dom.js";

const LABEL = 190;
const ROW = 22;
const WIDTH = 900;

// rows: [{label, start, end, status, key}] in ms; t0/t1: the time axis.
export function drawGantt(rows, t0, t1, attr) {
  const span = Math.max(1, t1 - t0);
  const plot = WIDTH - LABEL - 20;
  const height = rows.length * ROW + 30;
  const root = svg("svg", { class: "gantt", viewBox: `0 0 ${WIDTH} ${height}`, width: WIDTH, height, role: "img", "aria-label": "timeline" });
  for (let i = 0; i <= 4; i += 1) {
    const x = LABEL + (plot * i) / 4;
    root.append(svg("line", { x1: x, y1: 0, x2: x, y2: height - 18, class: "tick" }));
    root.append(svg("text", { x, y: height - 4, class: "axis" }, `+${fmtDuration((span * i) / 4)}`));
  }
  rows.forEach((r, i) => {
    const y = i * ROW + 4;
    const start = r.start ?? t0;
    const end = r.end ?? t1;
    const x = LABEL + ((start - t0) / span) * plot;
    const w = Math.max(2, ((end - start) / span) * plot);
    const g = svg("g", { class: `bar s-${r.status}`, [attr]: r.key, "data-status": r.status });
    g.append(svg("text", { x: 4, y: y + 13, class: "label" }, r.label.length > 28 ? `${r.label.slice(0, 27)}…` : r.label));
    if (r.start !== null && r.start !== undefined) {
      g.append(svg("rect", { x, y, width: w, height: ROW - 8, rx: 3 }));
    }
    g.append(svg("title", {}, `${r.label}: ${r.status}, ${fmtDuration(end - start)}`));
    root.append(g);
  });
  return root;
}
