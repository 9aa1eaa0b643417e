//! `ferry events [--limit N]`: the recent-events log, newest first: each event Ferry received
//! (published, or a run that succeeded) and what each deployment waiting for it did: started a
//! run, waits for other events, or why not (`docs/events.md` §6).
//!
//! Where it reads: on the embedded stack its route `GET /ferry/v1/events`
//! (`ferry_local::events`); on AWS the state table itself (`METAFLOW_SFN_DYNAMO_DB_TABLE`, the
//! `state_table` `ferry configure` records), as the other AWS commands read the stack's
//! tables directly, through the same engine the events Lambda writes it with
//! (`ferry_events::Engine::recent`).

use std::process::ExitCode;

use chrono::Utc;
use ferry_events::routes::{DEFAULT_RECENT_LIMIT, MAX_RECENT_LIMIT};
use ferry_events::{Engine, EventOrigin, LogEntry};
use ferry_spec::task::TableRef;
use serde_json::Value;

use crate::context::{CONFIG_FILE, Context, Target};
use crate::control::{failure, running_stack};
use crate::failure::{ErrorKind, Failure};

/// Arguments of `ferry events`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  ferry events                 # the 50 most recent events and what they started
  ferry events --limit 5
  ferry events --event data_ready   # only that event's deliveries
  ferry --json events          # [{\"received_at\", \"event\": {\"name\", \"id\", \"timestamp\", \"origin\"}, \"deployments\": [{\"deployment\", \"outcome\", \"run_id\", \"reason\", \"missing\"}]}]

Outcomes: started (the run id), waiting (the events still missing), refused (why: a payload
value of the wrong type, a missing field), duplicate (the id was delivered before),
no_deployment (addressed to a deployment deleted since). Entries are kept 14 days.")]
pub struct EventsArgs {
    /// At most this many events, newest first (1 to 1000). Example: `--limit 5`.
    #[arg(long, default_value_t = DEFAULT_RECENT_LIMIT as u16, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=MAX_RECENT_LIMIT as i64))]
    pub limit: u16,
    /// Only the events of this name (at most --limit of them, among the newest 1,000), e.g.
    /// to see past the `metaflow.<Flow>.end` event every finished run adds. Example:
    /// `--event data_ready`.
    #[arg(long, value_name = "NAME")]
    pub event: Option<String>,
}

/// Run `ferry events`.
pub async fn run(ctx: &Context, args: EventsArgs) -> anyhow::Result<ExitCode> {
    let limit = usize::from(args.limit);
    // Filtered by name: read as far back as the log answers, then keep the newest `limit`.
    let read = if args.event.is_some() {
        MAX_RECENT_LIMIT
    } else {
        limit
    };
    let entries = match &ctx.target {
        Target::Aws(aws) => {
            let Some(table) = aws.extra.get("state_table").and_then(Value::as_str) else {
                return Err(Failure::new(
                    ErrorKind::Usage,
                    format!(
                        "the AWS configuration in {} names no state table: run `ferry configure --from-stack FILE` again with the stack's describe-stacks output (its METAFLOWSFNDYNAMODBTABLE output), or `ferry configure --state-table NAME`",
                        ctx.home.join(CONFIG_FILE).display()
                    ),
                ));
            };
            let state = ferry_store::open_table_with(
                &TableRef::Dynamodb {
                    table: table.to_string(),
                },
                &ctx.aws_settings(),
            )
            .await?;
            Engine::new(state)
                .recent(read, Utc::now())
                .await
                .map_err(|e| Failure::new(ErrorKind::Unavailable, e.to_string()))?
        }
        Target::Local => running_stack(ctx)?
            .recent_events(read)
            .await
            .map_err(failure)?,
    };
    let entries: Vec<LogEntry> = entries
        .into_iter()
        .filter(|e| args.event.as_ref().is_none_or(|n| &e.event.name == n))
        .take(limit)
        .collect();
    if ctx.json {
        println!("{}", serde_json::to_string(&entries)?);
    } else if entries.is_empty() {
        match &args.event {
            Some(name) => println!("No event {name} among the recent events."),
            None => println!("No events in the last 14 days."),
        }
    } else {
        for e in &entries {
            print!("{}", describe(e));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One entry as text: the event's line, then one line per deployment.
fn describe(e: &LogEntry) -> String {
    let mut out = format!(
        "{}  {} (id {}, {})\n",
        e.received_at.format("%Y-%m-%d %H:%M:%S%:z"),
        e.event.name,
        e.event.id,
        match e.event.origin {
            EventOrigin::Published => "published",
            EventOrigin::RunSucceeded => "a run succeeded",
        }
    );
    if e.deployments.is_empty() {
        out.push_str("    no deployment waits for it\n");
    }
    for d in &e.deployments {
        let run = d.run_id.as_deref().unwrap_or_default();
        let what = match d.outcome.as_str() {
            "started" => format!("started run {run}"),
            "waiting" => format!("waiting for {}", d.missing.join(", ")),
            "duplicate" if !run.is_empty() => format!("duplicate; its run {run}"),
            other => format!(
                "{other}: {}",
                d.reason.as_deref().unwrap_or("no reason given")
            ),
        };
        out.push_str(&format!("    {}: {what}\n", d.deployment));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_reads_as_lines() {
        let e: LogEntry = serde_json::from_value(serde_json::json!({
            "received_at": "2026-12-06T15:47:03Z",
            "event": {"name": "data_ready", "id": "e1", "timestamp": 1, "origin": "published"},
            "deployments": [
                {"deployment": "A", "outcome": "started", "run_id": "sfn-ev-1"},
                {"deployment": "B", "outcome": "waiting", "missing": ["other"]},
                {"deployment": "C", "outcome": "refused", "reason": "wrong type"}]
        }))
        .unwrap();
        assert_eq!(
            describe(&e),
            "2026-12-06 15:47:03+00:00  data_ready (id e1, published)\n    A: started run sfn-ev-1\n    B: waiting for other\n    C: refused: wrong type\n"
        );
    }
}
