//! `ferry describe FLOW.py` and `ferry deployments`: read the deployment records.

use std::process::ExitCode;

use ferry_deploy::{DeploymentRecord, DeploymentStore};
use ferry_notify::{DeliveryLog, DeliveryReport};

use crate::context::Context;
use crate::failure::{ErrorKind, Failure};
use crate::flow::DeploymentArgs;
use crate::tokens;

/// Arguments of `ferry describe`.
#[derive(Debug, clap::Args)]
pub struct DescribeArgs {
    /// The flow file (or a deployment name), its `--flow` class and `@project` branch.
    #[command(flatten)]
    pub select: DeploymentArgs,
}

/// Arguments of `ferry deployments`.
#[derive(Debug, clap::Args)]
pub struct DeploymentsArgs {}

/// Describe one deployment.
pub async fn describe(ctx: &Context, args: DescribeArgs) -> anyhow::Result<ExitCode> {
    let name = args.select.deployment(ctx).await?;
    let table = ctx.table().await?;
    let store = DeploymentStore::new(table.clone());
    let Some(record) = store.get(&name).await? else {
        return Err(Failure::new(
            ErrorKind::NotFound,
            ferry_deploy::messages::missing(&name, ctx.platform()),
        ));
    };
    // The last notification delivery; the description stands without it.
    let last = match DeliveryLog::new(table).last(&name).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("ferry: warning: cannot read the last notification delivery: {e}");
            None
        }
    };
    if ctx.json {
        let mut v = record_json(&record)?;
        if let Some(l) = &last {
            v["last_delivery"] = serde_json::to_value(l)?;
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", render(ctx, &record, last.as_ref()));
    }
    Ok(ExitCode::SUCCESS)
}

/// A deployment record under `--json`, with every key present: `schedule`, `triggers` and
/// `notifications` are `null` when the deployment has none (the stored record leaves them out).
fn record_json(record: &DeploymentRecord) -> anyhow::Result<serde_json::Value> {
    let mut v = serde_json::to_value(record)?;
    if let Some(m) = v.as_object_mut() {
        for key in ["schedule", "triggers", "notifications"] {
            m.entry(key).or_insert(serde_json::Value::Null);
        }
    }
    Ok(v)
}

fn render(ctx: &Context, r: &DeploymentRecord, last: Option<&DeliveryReport>) -> String {
    let mut out = String::new();
    let mut line = |k: &str, v: String| out.push_str(&format!("{k:<14}{v}\n"));
    line("Deployment", r.deployment.clone());
    line("Flow", r.flow.clone());
    if let Some(p) = &r.project {
        line(
            "Project",
            format!("{p} (branch {})", r.branch.as_deref().unwrap_or("?")),
        );
    }
    line("Owner", r.owner.clone());
    line("Namespace", r.namespace.clone());
    let known = ctx.user.as_deref() == Some(r.owner.as_str())
        || tokens::load(&r.token_prefix).as_deref() == Some(r.token.as_str());
    line(
        "Token",
        if known {
            format!(
                "{} (others deploy with `ferry deploy --authorize {}`)",
                r.token, r.token
            )
        } else {
            format!(
                "held by {}: ask them for it, then deploy with `ferry deploy --authorize TOKEN`",
                r.owner
            )
        },
    );
    line(
        "Schedule",
        match &r.schedule {
            Some(s) => format!(
                "cron({}) {} as schedule {}",
                s.expression,
                s.timezone.as_deref().unwrap_or("UTC"),
                s.name
            ),
            None if r.triggers.is_some() => "none".to_string(),
            None => "none: start runs with `ferry trigger`".to_string(),
        },
    );
    for (i, text) in trigger_lines(r).into_iter().enumerate() {
        line(if i == 0 { "Triggers" } else { "" }, text);
    }
    if r.parameters.is_empty() {
        line("Parameters", "none".to_string());
    } else {
        for (i, p) in r.parameters.iter().enumerate() {
            let default = match &p.default {
                Some(d) => format!("default {d}"),
                None if p.required => "required, no default".to_string(),
                None => "no default".to_string(),
            };
            line(
                if i == 0 { "Parameters" } else { "" },
                format!("{} ({}, {default})", p.name, p.ty),
            );
        }
    }
    if !r.tags.is_empty() {
        line("Tags", r.tags.join(", "));
    }
    line("Max workers", r.max_workers.to_string());
    if let Some(t) = r.workflow_timeout {
        line("Timeout", format!("{t} s"));
    }
    line(
        "Notifications",
        match &r.notifications {
            Some(n) => n.summary(),
            None => {
                "none (ferry deploy --notify-on-error with a destination adds them)".to_string()
            }
        },
    );
    if let Some(l) = last {
        line("Last delivery", l.summary());
    }
    line(
        "Version",
        format!(
            "{} (deployed {} by request {})",
            r.version,
            r.updated_at.format("%Y-%m-%d %H:%M:%S UTC"),
            r.request_id
        ),
    );
    line(
        "First deploy",
        r.created_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    );
    line("State machine", r.state_machine.id.clone());
    line(
        "Package",
        format!("{} (spec sha256 {})", r.package.key, r.spec_sha256),
    );
    line(
        "Versions",
        format!(
            "ferry {}, metaflow {}",
            r.ferry_version,
            r.metaflow_version.as_deref().unwrap_or("unknown")
        ),
    );
    out
}

/// What starts runs of the deployment besides `ferry trigger` and the schedule: one line per
/// event of its `@trigger`/`@trigger_on_finish` (`docs/events.md`), or `none`.
fn trigger_lines(r: &DeploymentRecord) -> Vec<String> {
    let Some(t) = &r.triggers else {
        return vec!["none".to_string()];
    };
    let mut out = t.describe();
    if out.len() > 1 {
        out = std::iter::once("a run starts once each of these has happened:".to_string())
            .chain(out.into_iter().map(|l| format!("- {l}")))
            .collect();
    } else if let Some(first) = out.first_mut() {
        *first = format!("a run starts when {first}");
    }
    if let Some(reset) = &t.reset_at
        && t.events.len() > 1
    {
        out.push(format!(
            "waiting events are forgotten at every {} ({})",
            reset.cron,
            reset.timezone.as_deref().unwrap_or("UTC")
        ));
    }
    out
}

/// List deployments.
pub async fn deployments(ctx: &Context, _args: DeploymentsArgs) -> anyhow::Result<ExitCode> {
    let store = DeploymentStore::new(ctx.table().await?);
    let records = store.list().await?;
    if ctx.json {
        let v = records
            .iter()
            .map(record_json)
            .collect::<anyhow::Result<Vec<_>>>()?;
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    if records.is_empty() {
        println!(
            "No deployments on {}. Deploy a flow with `ferry deploy FLOW.py`.",
            ctx.platform()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let header = [
        "DEPLOYMENT",
        "FLOW",
        "PROJECT",
        "BRANCH",
        "OWNER",
        "VERSION",
        "SCHEDULE",
        "UPDATED",
    ];
    let rows: Vec<[String; 8]> = records
        .iter()
        .map(|r| {
            [
                r.deployment.clone(),
                r.flow.clone(),
                r.project.clone().unwrap_or_else(|| "-".into()),
                r.branch.clone().unwrap_or_else(|| "-".into()),
                r.owner.clone(),
                r.version.to_string(),
                r.schedule
                    .as_ref()
                    .map_or("-".into(), |s| format!("cron({})", s.expression)),
                r.updated_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            ]
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let fmt_row = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  "));
            }
        }
        s
    };
    println!("{}", fmt_row(header.to_vec()));
    for row in &rows {
        println!("{}", fmt_row(row.iter().map(String::as_str).collect()));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(triggers: serde_json::Value) -> DeploymentRecord {
        let mut r = serde_json::json!({
            "schema_version": 1, "deployment": "D", "flow": "F", "owner": "o", "token": "t",
            "token_prefix": "d", "namespace": "production:t",
            "state_machine": {"name": "D", "id": "D"}, "spec_sha256": "", "spec_key": "",
            "package": {"key": "k", "sha256": "s"}, "max_workers": 1, "version": 1,
            "ferry_version": "0", "request_id": "00000000-0000-4000-8000-000000000000",
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"
        });
        if !triggers.is_null() {
            r["triggers"] = triggers;
        }
        serde_json::from_value(r).unwrap()
    }

    #[test]
    fn triggers_are_listed() {
        assert_eq!(trigger_lines(&record(serde_json::Value::Null)), ["none"]);
        let one = record(
            serde_json::json!({"kind": "event", "events": [{"name": "data_ready",
            "parameters": [{"parameter": "day", "field": "date", "type": "str"}]}]}),
        );
        assert_eq!(
            trigger_lines(&one),
            ["a run starts when the event data_ready is published (sets day ← date)"]
        );
        let two = record(serde_json::json!({"kind": "run", "events": [
            {"name": "metaflow.A.end", "upstream": {"flow": "A", "deployment": "A"}},
            {"name": "metaflow.p.prod.B.end", "upstream": {"flow": "B", "project": "p", "branch": "prod", "deployment": "p.prod.B"}}
        ], "reset_at": {"cron": "0 0 * * *"}}));
        assert_eq!(
            trigger_lines(&two),
            [
                "a run starts once each of these has happened:",
                "- the flow A succeeds (deployment A)",
                "- the flow p.prod.B succeeds (deployment p.prod.B)",
                "waiting events are forgotten at every 0 0 * * * (UTC)",
            ]
        );
    }
}
