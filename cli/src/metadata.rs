//! Reading the Metaflow metadata service from the CLI: the embedded stack's (its URL in
//! `<home>/stack.json`) or the AWS stack's (`service_url` and `api_key` of `ferry configure`, else
//! `METAFLOW_SERVICE_URL` and `METAFLOW_SERVICE_AUTH_KEY`). What `ferry resume` needs, a run's
//! task metadata (`GET /flows/{flow}/runs/{run}/metadata`), and what `ferry status` needs, the
//! web UI's read API on the same service (`GET /ui/api/runs/{flow}/{run}` and a step's tasks:
//! per-step task counts computed from the task items, `docs/ui.md`).

use anyhow::{Context as _, bail};
use async_trait::async_trait;
use ferry_deploy::resume::{MetadataRow, RunMetadata};

use crate::context::{Context, Target};

/// A client of one metadata service.
pub struct MetadataClient {
    base: String,
    api_key: Option<String>,
    http: reqwest::Client,
}

impl MetadataClient {
    /// The metadata service of the context's target.
    pub fn for_context(ctx: &Context) -> anyhow::Result<Self> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let (base, api_key) = match &ctx.target {
            Target::Local => {
                let Some(info) = ferry_local::stack::read_stack_file(&ctx.home) else {
                    return Err(crate::control::no_stack(ctx));
                };
                (info.url, None)
            }
            Target::Aws(aws) => {
                let Some(url) = aws
                    .setting("service_url")
                    .or_else(|| env("METAFLOW_SERVICE_URL"))
                else {
                    bail!(
                        "the AWS configuration names no metadata service: run `ferry configure --from-stack FILE` (or set METAFLOW_SERVICE_URL)"
                    );
                };
                (url, aws.api_key())
            }
        };
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .context("building the HTTP client")?;
        Ok(MetadataClient {
            base: base.trim_end_matches('/').to_string(),
            api_key,
            http,
        })
    }
}

impl MetadataClient {
    /// The first task of `step` in the web UI's task `state` (`succeeded`, `failed`, …) and its
    /// id (`GET /ui/api/runs/{flow}/{run}/steps/{step}/tasks?state=…&limit=1`, `docs/ui.md`):
    /// `None` when the step has no such task.
    pub async fn first_task_in_state(
        &self,
        flow: &str,
        run: &str,
        step: &str,
        state: &str,
    ) -> anyhow::Result<Option<(String, serde_json::Value)>> {
        let mut tasks = self
            .get_json(&format!(
                "/ui/api/runs/{flow}/{run}/steps/{step}/tasks?state={state}&limit=1"
            ))
            .await?;
        let task = tasks
            .get_mut("tasks")
            .and_then(|t| t.get_mut(0))
            .map(serde_json::Value::take)
            .unwrap_or_default();
        let id = match &task["task_id"] {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            _ => return Ok(None),
        };
        Ok(Some((id, task)))
    }

    /// `GET <service><path>` (e.g. `/ui/api/runs/F/sfn-1`) as JSON. Errors: no answer, a
    /// non-2xx status (with the body), a body that is not JSON.
    pub async fn get_json(&self, path: &str) -> anyhow::Result<serde_json::Value> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.get(&url);
        if let Some(k) = &self.api_key {
            req = req.header("x-api-key", k);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("the metadata service at {} does not answer", self.base))?;
        let status = resp.status();
        let body = resp
            .bytes()
            .await
            .with_context(|| format!("reading {url}"))?;
        if !status.is_success() {
            bail!(
                "{url} answered {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        serde_json::from_slice(&body).with_context(|| format!("decoding {url}"))
    }
}

#[async_trait]
impl RunMetadata for MetadataClient {
    async fn run_metadata(&self, flow: &str, run_id: &str) -> Result<Vec<MetadataRow>, String> {
        let path = format!("/flows/{flow}/runs/{run_id}/metadata");
        let rows = self.get_json(&path).await.map_err(|e| format!("{e:#}"))?;
        serde_json::from_value(rows).map_err(|e| format!("decoding {}{path}: {e}", self.base))
    }
}
