// The page's router: the path below the UI root picks the page; links and the search box
// navigate without reloading; each page's polling stops when another page shows.
//
//   (root), deployments          every deployment
//   runs?status=&deployment=&…   runs, filtered
//   runs/<Flow>/<run>[/<step>]   a run (with a step's tasks)
//   runs/<Flow>/<run>/<step>/<task>   a task

import { uiRoot, setKey } from "./api.js";
import { el, fill } from "./dom.js";
import { renderDeployments, renderRuns, renderRun, renderTask } from "./pages.js";

const main = document.getElementById("main");
let stop = () => {};

function keyForm(message, wrong) {
  const input = el("input", { type: "password", name: "key", autocomplete: "off", size: 44 });
  const form = el(
    "form",
    { class: "card key-form", id: "key-form" },
    el("h2", {}, "API key"),
    el("p", {}, wrong ? "That key is wrong. " : "", message),
    el("p", { class: "muted" }, "It is kept for this browser tab only (sessionStorage). The stack's ApiKeyCommand output prints it."),
    input,
    " ",
    el("button", { type: "submit" }, "Use it"),
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    setKey(input.value.trim());
    route();
  });
  fill(main, form);
}

function route() {
  stop();
  stop = () => {};
  const rel = decodeURI(location.pathname.slice(uiRoot.pathname.length)).replace(/\/+$/, "");
  const parts = rel ? rel.split("/") : [];
  const query = new URLSearchParams(location.search);
  for (const a of document.querySelectorAll("nav a")) {
    a.classList.toggle("on", (parts[0] || "deployments") === a.getAttribute("href"));
  }
  try {
    if (parts.length === 0 || parts[0] === "deployments") {
      document.title = "Deployments · Ferry";
      stop = renderDeployments(main);
    } else if (parts[0] === "runs" && parts.length === 1) {
      document.title = "Runs · Ferry";
      stop = renderRuns(main, query);
    } else if (parts[0] === "runs" && (parts.length === 3 || parts.length === 4)) {
      document.title = `${parts[1]}/${parts[2]} · Ferry`;
      stop = renderRun(main, parts[1], parts[2], parts[3] || null);
    } else if (parts[0] === "runs" && parts.length === 5) {
      document.title = `${parts.slice(1).join("/")} · Ferry`;
      stop = renderTask(main, parts[1], parts[2], parts[3], parts[4]);
    } else {
      fill(main, el("p", { class: "error" }, `No page at ${rel}.`));
    }
  } catch (e) {
    fill(main, el("p", { class: "error" }, e.message));
  }
}

// Navigate to a path relative to the UI root.
window.ferryNavigate = (rel, replace) => {
  const url = new URL(rel, uiRoot);
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  route();
};

document.addEventListener("click", (ev) => {
  if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  const a = ev.target.closest("a");
  if (!a) return;
  const href = a.getAttribute("href");
  if (!href) return;
  const url = new URL(href, document.baseURI);
  if (url.origin !== location.origin || !url.pathname.startsWith(uiRoot.pathname)) return;
  ev.preventDefault();
  history.pushState(null, "", url);
  route();
});

window.addEventListener("popstate", route);

// Unhandled KeyNeeded errors from any page's requests show the key form.
window.addEventListener("unhandledrejection", (ev) => {
  if (ev.reason && ev.reason.name === "KeyNeeded") {
    ev.preventDefault();
    stop();
    keyForm(ev.reason.message, ev.reason.wrong);
  }
});

document.getElementById("search").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const q = new FormData(ev.target).get("q").trim();
  if (!q) return;
  window.ferryNavigate(q.includes("/") ? `runs/${q.replace(/^\/+|\/+$/g, "")}` : `runs?q=${encodeURIComponent(q)}`);
});

route();
