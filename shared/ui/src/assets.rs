//! The page itself: the HTML shell, the scripts (plain ES modules, SVG drawn with DOM calls),
//! the styles and the icon, embedded in the binary with `include_str!` (no build step, nothing
//! fetched from elsewhere at run time), and the security headers of every UI answer.
//!
//! The shell is one page for every path under `/ui` (the script routes by path), with a
//! relative `<base href>` computed from the path's depth, so the same page works at
//! `http://127.0.0.1:8765/ui/…` and behind an API Gateway stage (`https://…/api/ui/…`).

use axum::Router;
use axum::extract::{Path, Request};
use axum::http::{HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::PREFIX;

/// The Content-Security-Policy of every UI answer: scripts, styles, images and requests from
/// this origin only, no inline script or style, no plugins, no framing, and Trusted Types
/// enforced with no policy (so no HTML string can ever reach an HTML sink such as `innerHTML`).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'self'; \
    form-action 'self'; frame-ancestors 'none'; require-trusted-types-for 'script'; \
    trusted-types 'none'";

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

/// Every embedded file but the shell, served at `/ui/static/<name>`.
const ASSETS: &[Asset] = &[
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/app.js"),
    },
    Asset {
        name: "api.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/api.js"),
    },
    Asset {
        name: "dom.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/dom.js"),
    },
    Asset {
        name: "dag.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/dag.js"),
    },
    Asset {
        name: "gantt.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/gantt.js"),
    },
    Asset {
        name: "pages.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/pages.js"),
    },
    Asset {
        name: "style.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../assets/style.css"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_str!("../assets/favicon.svg"),
    },
];

/// The HTML shell; `{{BASE}}` becomes the relative base of the request's path.
const SHELL: &str = include_str!("../assets/index.html");

/// The names and bodies of the embedded scripts, styles and shell (for checks over them).
pub fn embedded() -> impl Iterator<Item = (&'static str, &'static str)> {
    ASSETS
        .iter()
        .map(|a| (a.name, a.body))
        .chain(std::iter::once(("index.html", SHELL)))
}

/// The shell and asset routes.
pub(crate) fn router() -> Router {
    Router::new()
        .route(PREFIX, get(shell))
        .route(&format!("{PREFIX}/"), get(shell))
        .route(&format!("{PREFIX}/static/{{name}}"), get(asset))
        .route(&format!("{PREFIX}/deployments"), get(shell))
        .route(&format!("{PREFIX}/runs"), get(shell))
        .route(&format!("{PREFIX}/runs/{{*rest}}"), get(shell))
}

/// The relative `<base href>` that points at the UI root from `path`: `ui/` for `/ui`, `./` for
/// `/ui/`, `../../` for `/ui/runs/Flow/sfn-1`. Only `/` counts, so no request text reaches the
/// page.
pub fn base_href(path: &str) -> String {
    match path.find("/ui/") {
        Some(i) => {
            let depth = path[i + 4..].matches('/').count();
            if depth == 0 {
                "./".to_string()
            } else {
                "../".repeat(depth)
            }
        }
        None => "ui/".to_string(),
    }
}

async fn shell(uri: Uri) -> Response {
    let page = SHELL.replace("{{BASE}}", &base_href(uri.path()));
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        page,
    )
        .into_response()
}

async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(a) => (
            [
                (header::CONTENT_TYPE, a.content_type),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            a.body,
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("no asset {name:?}"),
        )
            .into_response(),
    }
}

/// Middleware: the security headers of every UI answer (the policy above, no MIME sniffing, no
/// referrer, no framing).
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    for (name, value) in [
        ("content-security-policy", CONTENT_SECURITY_POLICY),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
    ] {
        h.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_points_at_the_ui_root() {
        assert_eq!(base_href("/ui"), "ui/");
        assert_eq!(base_href("/ui/"), "./");
        assert_eq!(base_href("/ui/runs"), "./");
        assert_eq!(base_href("/ui/runs/Flow/sfn-1"), "../../");
        assert_eq!(base_href("/ui/runs/Flow/sfn-1/start/t1"), "../../../../");
        assert_eq!(base_href("/api/ui/runs/F/r"), "../../");
    }

    #[test]
    fn scripts_never_write_html() {
        // Data reaches the page as text only (`textContent`, `createTextNode`, attributes):
        // none of the HTML-parsing sinks appears in the embedded files.
        for (name, body) in embedded() {
            for sink in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
                "new Function",
                "createContextualFragment",
                "srcdoc",
            ] {
                assert!(!body.contains(sink), "{name} uses {sink}");
            }
        }
    }

    #[test]
    fn the_shell_has_no_inline_script_or_style() {
        assert!(!SHELL.contains("<script>"));
        assert!(!SHELL.contains("style="));
        assert!(SHELL.contains("{{BASE}}"));
        for a in ASSETS {
            assert!(
                SHELL.contains(&format!("static/{}", a.name))
                    || !matches!(a.name, "app.js" | "style.css"),
                "the shell loads {}",
                a.name
            );
        }
    }
}
