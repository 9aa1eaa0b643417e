//! `ferry publish EVENT [--payload JSON] [--param k=v]… [--id ID]`: publish an event to the
//! embedded stack, as Metaflow's `ArgoEvent(EVENT).publish(payload)` does: the same body
//! (`ferry_events::Event::published`: `name`, a UUID `id`, `timestamp`, `utc_date`, then the
//! payload's fields) posted to the stack's events route (`ferry_local::events`). Prints what
//! each deployment waiting for the event did: the runs it started, or why not. Fails (exit 1,
//! under `--json` the delivery with an `error` beside it) when a deployment refused the event (a
//! payload value its parameter cannot take) or its run could not start; 0 otherwise, also when
//! no deployment waits for the event.
//!
//! On AWS the event goes to the stack's events API (`POST <API>/ferry/v1/events`, the
//! `events_url` `ferry configure` records from the stack output `METAFLOWARGOEVENTSWEBHOOKURL`,
//! with the API key), which the events Lambda serves with the same code and answer
//! (`ferry_events::routes`): the same lines print. A configuration without an events URL puts
//! the event on the stack's event bus instead (`PutEvents`, the output `FerryEventBus`), where
//! EventBridge routes it to the deployments' rules; the runs start asynchronously then and
//! `ferry events` shows what they did.

use std::process::ExitCode;

use anyhow::Context as _;
use chrono::Utc;
use ferry_events::routes::{EVENTS_ROUTE, events_api_base};
use ferry_events::{Delivery, Event};
use ferry_local::control::ControlClient;
use serde_json::{Map, Value, json};

use crate::context::{AwsTarget, Context, Target};
use crate::control::{failure, running_stack};
use crate::failure::{ErrorKind, Failure};

/// Arguments of `ferry publish`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  ferry publish data_ready --payload '{\"date\": \"2026-12-01\"}'   # sets day in DailySalesReportFlow
  ferry publish data_ready --param date=2026-12-01                  # the same, field by field
  ferry publish data_ready --param date=2026-12-01 --id batch-42    # a retry with the same id starts nothing new
  ferry --json publish data_ready                                   # {\"event\", \"deployments\": [{\"outcome\", \"run_id\", ...}], ...}

From Python, with `eval \"$(ferry env)\"`: ArgoEvent(\"data_ready\").publish({\"date\": \"2026-12-01\"})")]
pub struct PublishArgs {
    /// The event name, as `@trigger(event=...)` names it: letters, digits, `_`, `-`, `.`
    /// (at most 128). Example: `data_ready`.
    #[arg(value_name = "EVENT")]
    pub event: String,
    /// The payload: a JSON object whose fields set the parameters the triggers map.
    /// Example: `--payload '{"date": "2026-12-01"}'`.
    #[arg(long, value_name = "JSON")]
    pub payload: Option<String>,
    /// One payload field, its value a string (repeatable; after --payload's fields).
    /// Example: `--param date=2026-12-01`.
    #[arg(long = "param", value_name = "FIELD=VALUE")]
    pub params: Vec<String>,
    /// The event id (default: a new UUID). Deliveries of one id start at most one run per
    /// deployment, so a publisher's retry keeps its id. Example: `--id batch-42`.
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,
}

/// The payload fields `args` give, in order: `--payload`'s, then `--param`s, then `--id`.
fn payload_fields(args: &PublishArgs) -> anyhow::Result<Map<String, Value>> {
    let usage = |m: String| Failure::new(ErrorKind::Usage, m);
    let mut fields = match &args.payload {
        None => Map::new(),
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(m)) => m,
            Ok(other) => {
                return Err(usage(format!(
                    "--payload must be a JSON object of fields such as '{{\"date\": \"2026-12-01\"}}', not {other}"
                )));
            }
            Err(e) => {
                return Err(usage(format!(
                    "--payload is not JSON ({e}): give an object such as '{{\"date\": \"2026-12-01\"}}'"
                )));
            }
        },
    };
    for p in &args.params {
        let Some((k, v)) = p.split_once('=').filter(|(k, _)| !k.is_empty()) else {
            return Err(usage(format!(
                "--param {p:?} is not FIELD=VALUE: write it as --param date=2026-12-01"
            )));
        };
        fields.insert(k.to_string(), json!(v));
    }
    if let Some(id) = &args.id {
        fields.insert("id".into(), json!(id));
    }
    Ok(fields)
}

/// Run `ferry publish`.
pub async fn run(ctx: &Context, args: PublishArgs) -> anyhow::Result<ExitCode> {
    let fields = payload_fields(&args)?;
    let event = Event::published(&args.event, fields, Utc::now())
        .map_err(|e| Failure::new(ErrorKind::Usage, e.to_string()))?;
    let client = match &ctx.target {
        Target::Aws(aws) => match events_api(aws)? {
            Some(api) => api,
            None => return publish_to_bus(ctx, aws, &event).await,
        },
        Target::Local => running_stack(ctx)?,
    };
    let delivery = client
        .publish(&event.publish_body())
        .await
        .map_err(failure)
        .with_context(|| format!("publishing the event {} to {}", event.name, client.url()))?;
    report(ctx, &delivery)
}

/// The AWS stack's events API: `POST <API>/ferry/v1/events`, the `events_url` `ferry configure`
/// recorded (stack output `METAFLOWARGOEVENTSWEBHOOKURL`), with the API key (`api_key`, else
/// `METAFLOW_SERVICE_AUTH_KEY`). `None` when no events URL is configured; a usage error when it is
/// not the events route.
fn events_api(aws: &AwsTarget) -> anyhow::Result<Option<ControlClient>> {
    let Some(url) = aws.setting("events_url") else {
        return Ok(None);
    };
    let Some(base) = events_api_base(&url) else {
        return Err(Failure::new(
            ErrorKind::Usage,
            format!(
                "the events_url {url:?} in the AWS configuration is not the stack's events route, an http(s) URL ending in {EVENTS_ROUTE}: run `ferry configure --events-url URL` with the stack output METAFLOWARGOEVENTSWEBHOOKURL"
            ),
        ));
    };
    let key = aws.api_key();
    Ok(Some(
        ControlClient::remote(base, key.as_deref()).map_err(failure)?,
    ))
}

/// Print what each deployment did with the event, and exit 1 when one refused it or its run
/// could not start: the publisher's mistake or a failure to look at. "No deployment waits",
/// "kept until other events arrive" and redeliveries are fine.
fn report(ctx: &Context, delivery: &Delivery) -> anyhow::Result<ExitCode> {
    let refused = delivery
        .deployments
        .iter()
        .filter(|d| d.start_error.is_some() || d.logged.outcome == "refused")
        .count();
    let failed = (refused > 0).then(|| {
        anyhow::Error::new(Failure {
            kind: ErrorKind::Failed,
            message: format!(
                "{refused} of {} deployments waiting for {} started no run{}",
                delivery.deployments.len(),
                delivery.event.name,
                if ctx.json { "" } else { " (see above)" }
            ),
            result: serde_json::to_value(delivery).ok(),
            reported: false,
        })
    });
    if ctx.json {
        return match failed {
            // The delivery with the `error` beside it (`crate::failure::report`).
            Some(e) => Err(e),
            None => {
                println!("{}", serde_json::to_string(delivery)?);
                Ok(ExitCode::SUCCESS)
            }
        };
    }
    println!(
        "Published the event {} (id {}).",
        delivery.event.name, delivery.event.id
    );
    if delivery.deployments.is_empty() {
        println!("No deployment waits for it; nothing started.");
    }
    for d in &delivery.deployments {
        let who = d.flow.as_deref().unwrap_or(&d.logged.deployment);
        let run = d.logged.run_id.as_deref().unwrap_or_default();
        let line = if let Some(error) = &d.start_error {
            format!("{who}: the run {run} could not start: {error}")
        } else if d.started {
            format!(
                "{who}: started run {run} (deployment {}).",
                d.logged.deployment
            )
        } else {
            match d.logged.outcome.as_str() {
                "started" | "duplicate" if !run.is_empty() => {
                    format!("{who}: already delivered; its run {run} exists, nothing more started.")
                }
                "waiting" => format!(
                    "{who}: kept; the run starts once {} are published too.",
                    d.logged.missing.join(", ")
                ),
                _ => format!(
                    "{who}: no run: {}",
                    d.logged.reason.as_deref().unwrap_or("no reason given")
                ),
            }
        };
        println!("  {line}");
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(ExitCode::SUCCESS),
    }
}

/// `ferry publish` on AWS: `PutEvents` on the stack's bus.
#[cfg(feature = "aws")]
async fn publish_to_bus(ctx: &Context, aws: &AwsTarget, event: &Event) -> anyhow::Result<ExitCode> {
    let Some(bus) = aws.extra.get("event_bus").and_then(Value::as_str) else {
        return Err(Failure::new(
            ErrorKind::Usage,
            format!(
                "the AWS configuration in {} names neither the events API nor an event bus: run `ferry configure --from-stack FILE` again with the stack's describe-stacks output (its METAFLOWARGOEVENTSWEBHOOKURL and FerryEventBus outputs), or `ferry configure --events-url URL` or `--event-bus NAME`",
                ctx.home.join(crate::context::CONFIG_FILE).display()
            ),
        ));
    };
    let sdk = ferry_store::sdk_config_with(&aws.client_settings()).await;
    let entry_id = ferry_aws::event_bus(&sdk, bus)
        .publish(event)
        .await
        .map_err(|e| {
            let kind = match &e {
                ferry_aws::PublishError::Call {
                    transient: true, ..
                } => ErrorKind::Unavailable,
                _ => ErrorKind::Failed,
            };
            Failure::new(kind, e.to_string())
        })?;
    if ctx.json {
        println!(
            "{}",
            json!({"event": event.summary(), "event_bus": bus, "entry_id": entry_id})
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "Published the event {} (id {}) on the event bus {bus}.",
        event.name, event.id
    );
    println!(
        "The deployments waiting for it start their runs in a few seconds: `ferry list-runs FLOW` shows them."
    );
    Ok(ExitCode::SUCCESS)
}

/// Without the `aws` feature, an AWS target cannot be published to.
#[cfg(not(feature = "aws"))]
async fn publish_to_bus(
    _ctx: &Context,
    _aws: &crate::context::AwsTarget,
    _event: &Event,
) -> anyhow::Result<ExitCode> {
    Err(Failure::new(
        ErrorKind::Failed,
        "this ferry was built without the `aws` feature: it cannot publish to AWS".to_string(),
    ))
}
