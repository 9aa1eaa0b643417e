// The run's graph as SVG: one box per step (its element carries data-step and data-status, so
// scripts and tests read states without parsing colours), rows by layer, edges along `next`.
// A step inside a foreach shows its fan-out as "× N tasks" with per-state counts.

import { svg } from "./dom.js";

const W = 188;
const H = 58;
const GX = 28;
const GY = 44;

function counts(s) {
  if (!s || !s.tasks) return "no task yet";
  const parts = [`${s.tasks} task${s.tasks === 1 ? "" : "s"}`];
  if (s.succeeded) parts.push(`${s.succeeded} ok`);
  if (s.running) parts.push(`${s.running} running`);
  if (s.failed) parts.push(`${s.failed} failed`);
  return parts.join(" · ");
}

// Draw `dag` ({nodes, edges}) with per-step summaries `steps` ({name: {status, tasks, …}}).
// `selected`: the highlighted step; `href(step)`: the link of a step.
export function drawDag(dag, steps, selected, href) {
  const maxCols = Math.max(1, ...dag.nodes.map((n) => n.cols));
  const layers = Math.max(1, ...dag.nodes.map((n) => n.layer + 1));
  const width = maxCols * (W + GX) + GX;
  const height = layers * (H + GY) + GY;
  const pos = new Map();
  for (const n of dag.nodes) {
    const rowWidth = n.cols * (W + GX) - GX;
    const x0 = (width - rowWidth) / 2;
    pos.set(n.name, { x: x0 + n.col * (W + GX), y: GY / 2 + n.layer * (H + GY) });
  }
  const root = svg("svg", {
    class: "dag",
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    role: "img",
    "aria-label": "flow graph",
  });
  const edges = svg("g", { class: "edges" });
  for (const [from, to] of dag.edges) {
    const a = pos.get(from);
    const b = pos.get(to);
    if (!a || !b) continue;
    const x1 = a.x + W / 2;
    const y1 = a.y + H;
    const x2 = b.x + W / 2;
    const y2 = b.y;
    const my = (y1 + y2) / 2;
    edges.append(svg("path", { d: `M${x1},${y1} C${x1},${my} ${x2},${my} ${x2},${y2 - 4}`, class: "edge" }));
    edges.append(svg("path", { d: `M${x2 - 4},${y2 - 8} L${x2},${y2 - 2} L${x2 + 4},${y2 - 8}`, class: "arrow" }));
  }
  root.append(edges);
  for (const n of dag.nodes) {
    const p = pos.get(n.name);
    const s = steps[n.name] || { status: "pending" };
    const status = s.status || "pending";
    const g = svg("a", {
      href: href(n.name),
      class: `step s-${status}${selected === n.name ? " selected" : ""}`,
      "data-step": n.name,
      "data-status": status,
      "data-tasks": s.tasks || 0,
    });
    g.append(svg("rect", { x: p.x, y: p.y, width: W, height: H, rx: 8 }));
    if (n.inside_foreach || n.type === "foreach") {
      g.append(svg("rect", { x: p.x + 4, y: p.y + 4, width: W - 8, height: H - 8, rx: 6, class: "inner" }));
    }
    const title = n.name.length > 22 ? `${n.name.slice(0, 21)}…` : n.name;
    g.append(svg("text", { x: p.x + 12, y: p.y + 22, class: "name" }, title));
    let sub = counts(s);
    if (n.inside_foreach && s.tasks) sub = `× ${sub}`;
    if (n.type === "foreach") sub = `foreach ${n.foreach || ""} · ${sub}`;
    g.append(svg("text", { x: p.x + 12, y: p.y + 42, class: "sub" }, sub.length > 30 ? `${sub.slice(0, 29)}…` : sub));
    g.append(svg("title", {}, `${n.name}: ${status} (${counts(s)})`));
    root.append(g);
  }
  return root;
}
