//! Task heartbeats to the Metaflow metadata service, sent by the wrapper itself.
//!
//! Metaflow's `step` command, with `--metadata=service`, starts a heartbeat *sidecar*: a second
//! Python interpreter per task that imports Metaflow only to `POST
//! <service>/flows/<flow>/runs/<run>/steps/<step>/tasks/<task>/heartbeat` (body `{}`) every
//! `wait_time_in_seconds` (10) seconds. The wrapper sends the same requests from Rust instead
//! ([`Heartbeat::run`]) and starts the step through [`STEP_BOOTSTRAP_PY`]
//! ([`without_heartbeat_sidecar`]), which leaves Metaflow's `heartbeat` sidecar plugin out, so
//! Metaflow starts no sidecar process: that saves one interpreter start-up per task (about a
//! third of a trivial task's CPU time).
//!
//! Headers are Metaflow's (`metaflow_config.SERVICE_HEADERS`): the JSON object
//! `METAFLOW_SERVICE_HEADERS`, plus `x-api-key: $METAFLOW_SERVICE_AUTH_KEY` when set. Failures
//! are retried on the next beat and never fail the task, as with Metaflow's sidecar.

use std::ffi::OsString;
use std::time::Duration;

use crate::command::Invocation;

/// `python -c` program that runs a Metaflow flow file as `python <flow file> <args>` would, except
/// that Metaflow's `heartbeat` sidecar plugin is removed first (`SIDECARS` is Metaflow's plugin
/// registry; `Sidecar("heartbeat")` then has no worker and starts no process). argv after `-c`:
/// the flow file, then its arguments. As for a script: `sys.argv[0]` is the flow file as given,
/// `__file__` its absolute path, `sys.path[0]` its directory, and it runs in the `__main__`
/// module (whose globals keep only the interpreter's own names), `__file__` set before Metaflow is imported
/// (Metaflow registers pickled classes such as `ForeachFrame` on `__main__` at import). If the
/// registry is not where this Metaflow keeps it, the step runs with Metaflow's own sidecar (and
/// two heartbeats: harmless). When [`ENV_EXECUTION_TRIGGERS`] is set (the start step of an
/// event-triggered run), `current.trigger` is Metaflow's `Trigger` of those events, as Metaflow's
/// Argo decorator sets it.
pub const STEP_BOOTSTRAP_PY: &str = r#"def _ferry_step():
    import os, sys
    main = sys.modules["__main__"].__dict__
    del main["_ferry_step"]
    sys.argv = sys.argv[1:]
    path = os.path.abspath(sys.argv[0])
    sys.path[0] = os.path.dirname(path)
    main["__file__"] = path
    try:
        from metaflow.plugins import SIDECARS
        SIDECARS.pop("heartbeat", None)
    except Exception:
        pass
    triggers = os.environ.get("FERRY_EXECUTION_TRIGGERS")
    if triggers:
        import json
        from metaflow import current
        from metaflow.events import Trigger
        current._update_env({"trigger": Trigger(json.loads(triggers))})
    with open(path, "rb") as f:
        code = compile(f.read(), path, "exec")
    exec(code, main)
_ferry_step()
"#;

/// The environment variable holding the events that started the run (JSON text in the shape of
/// Metaflow's `execution-triggers` metadata) for [`STEP_BOOTSTRAP_PY`].
pub const ENV_EXECUTION_TRIGGERS: &str = "FERRY_EXECUTION_TRIGGERS";

/// The Metaflow step `inv` (`<python> <flow file> <args>`) run through [`STEP_BOOTSTRAP_PY`]:
/// `<python> -c <bootstrap> <flow file> <args>`.
pub fn without_heartbeat_sidecar(mut inv: Invocation) -> Invocation {
    let mut args: Vec<OsString> = vec!["-c".into(), STEP_BOOTSTRAP_PY.into()];
    args.append(&mut inv.args);
    inv.args = args;
    inv
}

/// Seconds between beats unless the service says otherwise (Metaflow's sidecar default).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
/// Longest wait for one heartbeat request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Bounds on the interval a service may ask for.
const MIN_INTERVAL: Duration = Duration::from_secs(1);
const MAX_INTERVAL: Duration = Duration::from_secs(300);

/// The heartbeat of one task.
pub struct Heartbeat {
    client: reqwest::Client,
    url: String,
    /// The task's metadata URL (`<task>/metadata`).
    metadata_url: String,
    headers: Vec<(String, String)>,
}

impl Heartbeat {
    /// The heartbeat of task `flow/run/step/task` at the service `service_url`, with the request
    /// headers read from `env` (the step's environment, later entries winning): `None` when
    /// the client cannot be built or a path segment would need escaping (Metaflow's own sidecar
    /// would send the request unescaped; ids here are validated by the wrapper already).
    pub fn new(
        service_url: &str,
        flow: &str,
        run: &str,
        step: &str,
        task: &str,
        env: &[(String, String)],
    ) -> Option<Self> {
        let safe = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        };
        if ![flow, run, step, task].iter().all(|s| safe(s)) {
            return None;
        }
        let task_url = format!(
            "{}/flows/{flow}/runs/{run}/steps/{step}/tasks/{task}",
            service_url.trim_end_matches('/')
        );
        let url = format!("{task_url}/heartbeat");
        let mut builder = reqwest::Client::builder().timeout(REQUEST_TIMEOUT);
        if !url
            .get(..8)
            .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
        {
            // Plain HTTP (the embedded stack): no TLS, so skip loading the host's root
            // certificates, which costs more than the rest of the wrapper's start-up.
            builder = builder.tls_certs_only(std::iter::empty());
        }
        let client = builder.build().ok()?;
        Some(Heartbeat {
            client,
            url,
            metadata_url: format!("{task_url}/metadata"),
            headers: service_headers(env),
        })
    }

    /// The heartbeat URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Record one metadata field of the task (`POST <task>/metadata`, the body Metaflow's
    /// service provider sends: a list of `{flow_id, run_number, step_name, task_id, field_name,
    /// type, value, tags, user_name, ts_epoch}`), tagged with the attempt as Metaflow tags its
    /// own (`attempt_id:N`). Errors: the request failed or the service refused it (e.g. 404
    /// before the step registered its task), as text.
    pub async fn register_metadata(
        &self,
        ids: [&str; 4],
        field: &str,
        value: &str,
        attempt: u32,
        user: &str,
    ) -> Result<(), String> {
        let [flow, run, step, task] = ids;
        let body = serde_json::json!([{
            "flow_id": flow,
            "run_number": run,
            "step_name": step,
            "task_id": task,
            "field_name": field,
            "type": field,
            "value": value,
            "tags": [format!("attempt_id:{attempt}")],
            "user_name": user,
            "ts_epoch": std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        }]);
        let mut req = self.client.post(&self.metadata_url).json(&body);
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let resp = req.send().await.map_err(|e| e.to_string())?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(format!("the metadata service answered {}", resp.status()))
        }
    }

    /// Send one heartbeat; `Some(interval)` the service asks for until the next one, `None`
    /// when the request failed (e.g. 404 before the step has registered its task).
    pub async fn beat(&self) -> Option<Duration> {
        let mut req = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .body("{}");
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let resp = req.send().await.ok()?;
        if !resp.status().is_success() {
            return None;
        }
        let body = resp.text().await.unwrap_or_default();
        Some(parse_interval(&body).unwrap_or(DEFAULT_INTERVAL))
    }

    /// Beat until dropped: the first beat after `first`, then every interval the service asks
    /// for; a failed beat is retried after `first` (the step registers its task soon after it
    /// starts).
    pub async fn run(&self, first: Duration) {
        let mut wait = first;
        loop {
            tokio::time::sleep(wait).await;
            wait = self.beat().await.unwrap_or(first);
        }
    }
}

/// `wait_time_in_seconds` of a heartbeat response: a JSON object, or (as metaflow-service
/// answers) a JSON string holding one. Clamped to 1..=300 s.
pub fn parse_interval(body: &str) -> Option<Duration> {
    let mut v: serde_json::Value = serde_json::from_str(body).ok()?;
    if let serde_json::Value::String(inner) = &v {
        v = serde_json::from_str(inner).ok()?;
    }
    let secs = v.get("wait_time_in_seconds")?.as_f64()?;
    if !secs.is_finite() || secs <= 0.0 {
        return None;
    }
    Some(Duration::from_secs_f64(secs).clamp(MIN_INTERVAL, MAX_INTERVAL))
}

/// Metaflow's service headers from `env` (later entries win) and the wrapper's environment:
/// `METAFLOW_SERVICE_HEADERS` (a JSON object of strings; anything else is ignored) and
/// `x-api-key` from `METAFLOW_SERVICE_AUTH_KEY`.
pub fn service_headers(env: &[(String, String)]) -> Vec<(String, String)> {
    let get = |name: &str| {
        env.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(name).ok())
            .filter(|v| !v.is_empty())
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    if let Some(text) = get("METAFLOW_SERVICE_HEADERS")
        && let Ok(serde_json::Value::Object(map)) = serde_json::from_str(&text)
    {
        for (k, v) in map {
            if let serde_json::Value::String(v) = v {
                headers.push((k, v));
            }
        }
    }
    if let Some(key) = get("METAFLOW_SERVICE_AUTH_KEY") {
        headers.retain(|(k, _)| !k.eq_ignore_ascii_case("x-api-key"));
        headers.push(("x-api-key".into(), key));
    }
    headers
        .into_iter()
        .filter(|(k, v)| {
            reqwest::header::HeaderName::from_bytes(k.as_bytes()).is_ok()
                && reqwest::header::HeaderValue::from_str(v).is_ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_from_the_service_answer() {
        assert_eq!(
            parse_interval(r#""{\"wait_time_in_seconds\": 10}""#),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_interval(r#"{"wait_time_in_seconds": 3}"#),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            parse_interval(r#"{"wait_time_in_seconds": 0.01}"#),
            Some(MIN_INTERVAL)
        );
        assert_eq!(parse_interval(r#"{"wait_time_in_seconds": -1}"#), None);
        assert_eq!(parse_interval("{}"), None);
        assert_eq!(parse_interval("not json"), None);
    }

    #[test]
    fn headers_from_the_step_environment() {
        let env = vec![
            (
                "METAFLOW_SERVICE_HEADERS".to_string(),
                r#"{"x-a": "1", "x-api-key": "old", "n": 2}"#.to_string(),
            ),
            ("METAFLOW_SERVICE_AUTH_KEY".to_string(), "k".to_string()),
        ];
        let h = service_headers(&env);
        assert!(h.contains(&("x-a".to_string(), "1".to_string())));
        assert!(h.contains(&("x-api-key".to_string(), "k".to_string())));
        assert!(!h.iter().any(|(_, v)| v == "old"));
        assert!(!h.iter().any(|(k, _)| k == "n"));
    }

    #[test]
    fn url_and_refused_segments() {
        let hb = Heartbeat::new("http://h:1/", "F", "sfn-r", "s", "t-1", &[]).unwrap();
        assert_eq!(
            hb.url(),
            "http://h:1/flows/F/runs/sfn-r/steps/s/tasks/t-1/heartbeat"
        );
        assert!(Heartbeat::new("http://h:1", "F", "r", "s", "a/b", &[]).is_none());
    }
}
