// Safe DOM building: every piece of data becomes a text node or an attribute value; no HTML
// string is ever parsed (the page's Content-Security-Policy enforces Trusted Types with no
// policy, so an HTML sink would throw).

const SVG_NS = "http://www.w3.org/2000/svg";

function set(node, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (/^on/i.test(k)) throw new Error(`event handler attribute ${k} refused`);
    node.setAttribute(k, v === true ? "" : String(v));
  }
}

function add(node, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

// An HTML element: el("a", {href: "runs", class: "x"}, "text", child, [more]).
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  set(node, attrs);
  return add(node, children);
}

// An SVG element.
export function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  set(node, attrs);
  return add(node, children);
}

// Replace a node's children.
export function fill(node, ...children) {
  node.replaceChildren();
  return add(node, children);
}

const pad = (n) => String(n).padStart(2, "0");

// `2026-12-06 11:16:03 UTC` from an RFC 3339 string or epoch milliseconds.
export function fmtTime(t) {
  if (t === null || t === undefined || t === "") return "—";
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} UTC`;
}

// `1h 02m`, `3m 05s`, `4.2s` from milliseconds.
export function fmtDuration(ms) {
  if (ms === null || ms === undefined || ms < 0) return "—";
  if (ms < 10000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  return `${Math.floor(s / 3600)}h ${pad(Math.floor((s % 3600) / 60))}m`;
}

// `1.2 MB` from bytes.
export function fmtBytes(n) {
  if (n === null || n === undefined) return "—";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let v = Number(n);
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i += 1;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

// A status pill: <span class="pill s-failed" data-status="failed">failed</span>.
export function pill(status) {
  const s = String(status || "unknown");
  return el("span", { class: `pill s-${s}`, "data-status": s }, s.replace("_", " "));
}

// A value as text: strings as they are, anything else as JSON.
export function show(v) {
  if (v === null || v === undefined) return "—";
  return typeof v === "string" ? v : JSON.stringify(v);
}
