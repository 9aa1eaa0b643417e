// The UI's JSON API client. Paths are relative to the UI root (the shell's <base href>), so the
// page works at /ui on `ferry up` and behind an API Gateway stage. With an API key (AWS), the
// page asks for it once and keeps it for the browser session (sessionStorage).

const KEY = "ferry.apiKey";

// The UI root, e.g. http://127.0.0.1:8765/ui/.
export const uiRoot = new URL(".", document.baseURI);

export class KeyNeeded extends Error {
  constructor(message, wrong) {
    super(message);
    this.name = "KeyNeeded";
    this.wrong = wrong;
  }
}

export class ApiError extends Error {
  constructor(status, kind, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.kind = kind;
  }
}

export function setKey(key) {
  sessionStorage.setItem(KEY, key);
}

// GET api/<path>?<params> as JSON.
export async function get(path, params) {
  const url = new URL(`api/${path}`, uiRoot);
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== null && v !== undefined && v !== "") url.searchParams.set(k, String(v));
  }
  const headers = { accept: "application/json" };
  const key = sessionStorage.getItem(KEY);
  if (key) headers["x-api-key"] = key;
  const resp = await fetch(url, { headers, cache: "no-store" });
  let body = null;
  try {
    body = await resp.json();
  } catch (_) {
    body = null;
  }
  if (resp.status === 401 || resp.status === 403) {
    if (resp.status === 403) sessionStorage.removeItem(KEY);
    throw new KeyNeeded(body?.error?.message || body?.message || "this stack needs its API key", resp.status === 403);
  }
  if (!resp.ok) {
    const err = body?.error || {};
    throw new ApiError(resp.status, err.kind || "failed", err.message || `HTTP ${resp.status}`);
  }
  return body;
}

// A path segment, escaped.
export const seg = (s) => encodeURIComponent(String(s));
