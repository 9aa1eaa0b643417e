//! `ferry describe FLOW.py` and `ferry deployments`: read the deployment records.

use std::process::ExitCode;

use ferry_deploy::{DeploymentRecord, DeploymentStore};
use ferry_spec::DeploymentName;

use crate::context::Context;
use crate::failure::{ErrorKind, Failure};
use crate::flow::{Check, DeploymentArgs};
use crate::tokens;

/// What the positional argument of `ferry describe` says in `--help`: a flow file or a
/// deployment name (`main.rs` puts it on the flow selector's positional).
pub const TARGET_HELP: &str = "The flow file, or a deployment name as `ferry deployments` lists it. Examples: `examples/hello.py`, `fraud_model.prod.ScoreFlow`.";

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

/// The deployment a `describe` argument names.
async fn deployment_name(ctx: &Context, args: &DescribeArgs) -> anyhow::Result<DeploymentName> {
    let file = &args.select.flow.flow;
    if file.is_file() {
        return Ok(args.select.resolve(ctx, Check::NameOnly).await?.deployment);
    }
    let name = file.to_string_lossy().to_string();
    if name.ends_with(".py") {
        anyhow::bail!("the flow file {name} does not exist");
    }
    Ok(DeploymentName::parse(&name)?)
}

/// Describe one deployment.
pub async fn describe(ctx: &Context, args: DescribeArgs) -> anyhow::Result<ExitCode> {
    let name = deployment_name(ctx, &args).await?;
    let store = DeploymentStore::new(ctx.table().await?);
    let Some(record) = store.get(&name).await? else {
        return Err(Failure::new(
            ErrorKind::NotFound,
            ferry_deploy::messages::missing(&name, ctx.platform()),
        ));
    };
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(&record)?);
    } else {
        print!("{}", render(ctx, &record));
    }
    Ok(ExitCode::SUCCESS)
}

fn render(ctx: &Context, r: &DeploymentRecord) -> String {
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
            None => "none: start runs with `ferry trigger`".to_string(),
        },
    );
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

/// List deployments.
pub async fn deployments(ctx: &Context, _args: DeploymentsArgs) -> anyhow::Result<ExitCode> {
    let store = DeploymentStore::new(ctx.table().await?);
    let records = store.list().await?;
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(&records)?);
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
