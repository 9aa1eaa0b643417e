//! `ferry trigger FLOW.py [--<param> value]…`: start a run of a deployed flow on the embedded
//! stack. The flow's own parameters (from the deployment record) are options after the flow
//! file, `--name value` or `--name=value`; the execution input is Metaflow's
//! `{"Parameters": "<JSON text of the given parameters>"}` (contract metaflow-sfn §7); the
//! deploy-time defaults fill the rest in the task wrapper.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use ferry_control::ControlError;
use ferry_deploy::DeploymentRecord;
use serde_json::{Map, Value, json};

use crate::context::Context;
use crate::control::{ControlPlane, failure};
use crate::failure::{ErrorKind, Failure};
use crate::flow::DeploymentArgs;

/// Step Functions' input limit as Metaflow's `trigger` checks it.
pub const MAX_INPUT_CHARS: usize = 20_480;

/// Arguments of `ferry trigger`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "The flow's parameters are options after FLOW.py (or DEPLOYMENT). Examples:\n  ferry trigger flow.py --alpha 0.9 --name=bob --my-list '[3, 4]'\n  ferry trigger fraud_model.prod.ScoreFlow --alpha 0.9"
)]
pub struct TriggerArgs {
    #[command(flatten)]
    pub select: DeploymentArgs,
    /// Write the run id (`sfn-…`) to this file. Example: `--run-id-file run.txt`.
    #[arg(long, value_name = "FILE")]
    pub run_id_file: Option<PathBuf>,
    /// Tag the run (repeatable), like `run --tag`. Example: `--tag nightly --tag backfill`.
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Wait for the run to end, showing its progress on stderr (a bar on a terminal, a line
    /// per change otherwise), then print its status as `ferry status` does and exit with its
    /// outcome: 0 succeeded, 1 failed, timed out or aborted. With `--json`, the final status
    /// object. Example: `ferry trigger flow.py --wait || echo "the run failed"`.
    #[arg(long)]
    pub wait: bool,
    /// The flow's parameters: `--<name> <value>` or `--<name>=<value>`.
    #[arg(value_name = "--PARAM VALUE", index = 2, trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    pub params: Vec<String>,
}

/// The options after the flow file, split into ours and the flow's.
#[derive(Debug, Default, PartialEq)]
pub struct ParsedOptions {
    pub branch: Option<String>,
    /// `--flow` given after FLOW.py.
    pub flow_class: Option<String>,
    pub production: bool,
    pub run_id_file: Option<PathBuf>,
    pub json: bool,
    /// `--wait` given after FLOW.py.
    pub wait: bool,
    /// `--tag` values given after FLOW.py.
    pub tags: Vec<String>,
    /// (name as given, value) in order.
    pub params: Vec<(String, String)>,
}

/// Split `--name value` / `--name=value` pairs; `--branch`, `--flow`, `--production`,
/// `--run-id-file`, `--tag`, `--wait` and `--json` may appear among them.
pub fn parse_options(raw: &[String]) -> anyhow::Result<ParsedOptions> {
    let mut out = ParsedOptions::default();
    let mut i = 0;
    while i < raw.len() {
        let arg = &raw[i];
        let Some(opt) = arg.strip_prefix("--").filter(|o| !o.is_empty()) else {
            bail!("unexpected argument {arg:?}: flow parameters are given as --name value");
        };
        if opt == "production" {
            out.production = true;
            i += 1;
            continue;
        }
        if opt == "json" {
            out.json = true;
            i += 1;
            continue;
        }
        if opt == "wait" {
            out.wait = true;
            i += 1;
            continue;
        }
        let (name, value) = match opt.split_once('=') {
            Some((n, v)) => {
                i += 1;
                (n.to_string(), v.to_string())
            }
            None => {
                let Some(v) = raw.get(i + 1) else {
                    bail!("option --{opt} needs a value")
                };
                i += 2;
                (opt.to_string(), v.clone())
            }
        };
        match name.as_str() {
            "branch" => out.branch = Some(value),
            "flow" => out.flow_class = Some(value),
            "run-id-file" => out.run_id_file = Some(PathBuf::from(value)),
            "tag" => out.tags.push(value),
            _ => out.params.push((name, value)),
        }
    }
    Ok(out)
}

fn norm(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "-")
}

/// Convert given values to the JSON Metaflow's `trigger` sends, checking names and types
/// against the deployment's parameters.
pub fn parameters_json(
    record: &DeploymentRecord,
    given: &[(String, String)],
) -> anyhow::Result<Map<String, Value>> {
    let mut out = Map::new();
    for (name, raw) in given {
        let Some(p) = record
            .parameters
            .iter()
            .find(|p| norm(&p.name) == norm(name))
        else {
            let known: Vec<String> = record
                .parameters
                .iter()
                .map(|p| format!("--{}", p.name))
                .collect();
            if known.is_empty() {
                bail!("no such option --{name}: {} has no parameters", record.flow);
            }
            bail!(
                "no such option --{name}: the parameters of {} are {}",
                record.flow,
                known.join(", ")
            );
        };
        if out.contains_key(&p.name) {
            bail!(
                "parameter --{} is given twice (parameter names are case-insensitive)",
                p.name
            );
        }
        let bad =
            |what: &str| anyhow::anyhow!("invalid value for --{}: {raw:?} is not {what}", p.name);
        let v = match p.ty.as_str() {
            "int" => Value::from(raw.trim().parse::<i64>().map_err(|_| bad("an integer"))?),
            "float" => {
                let f = raw.trim().parse::<f64>().map_err(|_| bad("a number"))?;
                serde_json::Number::from_f64(f)
                    .map(Value::Number)
                    .ok_or_else(|| bad("a finite number"))?
            }
            "bool" => match raw.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "y" | "t" | "on" => Value::Bool(true),
                "false" | "0" | "no" | "n" | "f" | "off" => Value::Bool(false),
                _ => return Err(bad("a boolean (true/false)")),
            },
            "json" => {
                // Metaflow passes JSONType values through json.dumps: a JSON-encoded string.
                let doc: Value = serde_json::from_str(raw).map_err(|_| bad("a JSON document"))?;
                Value::String(doc.to_string())
            }
            _ => Value::String(raw.clone()),
        };
        out.insert(p.name.clone(), v);
    }
    for p in &record.parameters {
        if p.required && p.default.is_none() && !out.contains_key(&p.name) {
            bail!(
                "missing option --{}: the parameter {} is required",
                p.name,
                p.name
            );
        }
    }
    Ok(out)
}

/// The execution input: `{"Parameters": "<JSON text>"}`.
pub fn execution_input(params: &Map<String, Value>) -> anyhow::Result<String> {
    let inner = serde_json::to_string(params)?;
    let input = json!({ "Parameters": inner }).to_string();
    if input.len() > MAX_INPUT_CHARS {
        bail!(
            "Length of parameter names and values shouldn't exceed {MAX_INPUT_CHARS} (the execution input limit Metaflow applies)."
        );
    }
    Ok(input)
}

/// Start a run.
pub async fn run(ctx: &Context, args: TriggerArgs) -> anyhow::Result<ExitCode> {
    let usage = |e: anyhow::Error| anyhow::Error::new(crate::UsageError(e));
    let opts = parse_options(&args.params).map_err(usage)?;
    let json_out = ctx.json || opts.json;
    let run_id_file = args.run_id_file.clone().or(opts.run_id_file.clone());

    // `--flow`, `--branch` and `--production` may also come after FLOW.py, among the flow's
    // parameters.
    let mut select = args.select.clone();
    select.branch = select.branch.or(opts.branch.clone());
    select.production |= opts.production;
    select.flow.flow_class = select.flow.flow_class.or(opts.flow_class.clone());
    let deployment = select.deployment(ctx).await?;
    let control = ControlPlane::connect(ctx).await?;
    let not_deployed = || {
        Failure::new(
            ErrorKind::NotFound,
            format!(
                "The workflow {deployment} doesn't exist on {}. Please deploy your flow first.",
                ctx.platform()
            ),
        )
    };
    let Some(record) = control.deployment(&deployment).await? else {
        return Err(not_deployed());
    };
    let mut params = parameters_json(&record, &opts.params).map_err(usage)?;
    let tags: Vec<&String> = args.tags.iter().chain(&opts.tags).collect();
    if let Some(bad) = tags.iter().find(|t| t.is_empty() || t.len() > 500) {
        return Err(usage(anyhow::anyhow!(
            "invalid tag {bad:?}: a tag is 1 to 500 bytes"
        )));
    }
    if !tags.is_empty() {
        params.insert(ferry_spec::task::PARAMETERS_TAGS.into(), json!(tags));
    }
    let input = execution_input(&params)?;
    let input = crate::run_input::offload_long_parameters(ctx, input).await?;
    let e = match control.executions().start(&deployment, None, &input).await {
        Ok(e) => e,
        Err(ControlError::NotFound(_)) => return Err(not_deployed()),
        Err(e) => return Err(failure(e)),
    };
    let run_id = e.run_id();
    let wait = args.wait || opts.wait;
    // Under `--wait --json`, stdout holds one JSON document: the final status object.
    if json_out && !wait {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "run_id": run_id, "flow": record.flow, "deployment": deployment,
                "namespace": record.namespace, "input": input, "started_at": e.start_date,
            }))?
        );
    } else if !json_out {
        println!(
            "Workflow {deployment} triggered on {} (run-id {run_id}).",
            ctx.platform()
        );
        if let Ok(ui) = std::env::var("METAFLOW_UI_URL")
            && !ui.is_empty()
        {
            println!(
                "See the run in the UI at {}/{}/{run_id}",
                ui.trim_end_matches('/'),
                record.flow
            );
        }
    }
    // After the run id is printed: the run has started even if the file cannot be written.
    if let Some(f) = &run_id_file {
        std::fs::write(f, run_id.as_str()).with_context(|| {
            format!(
                "the run started, but writing its id {run_id} to {} failed",
                f.display()
            )
        })?;
    }
    if wait {
        let report = crate::run_wait::wait_with_progress(ctx, &control, e).await?;
        return crate::run_wait::outcome(&report, json_out);
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn options_split_ours_from_the_flows() {
        let p = parse_options(&s(&[
            "--alpha",
            "0.5",
            "--name=bob $x",
            "--run-id-file",
            "r.txt",
            "--production",
            "--branch=b",
        ]))
        .unwrap();
        assert_eq!(
            p.params,
            vec![
                ("alpha".into(), "0.5".into()),
                ("name".into(), "bob $x".into())
            ]
        );
        assert_eq!(p.run_id_file, Some(PathBuf::from("r.txt")));
        assert!(p.production);
        assert_eq!(p.branch.as_deref(), Some("b"));
        assert!(parse_options(&s(&["alpha"])).is_err());
        assert!(parse_options(&s(&["--alpha"])).is_err());
    }

    #[test]
    fn input_is_json_text_inside_json() {
        let mut m = Map::new();
        m.insert("alpha".into(), json!(0.9));
        m.insert("my-list".into(), json!("[3,4]"));
        let input = execution_input(&m).unwrap();
        let v: Value = serde_json::from_str(&input).unwrap();
        let inner: Value = serde_json::from_str(v["Parameters"].as_str().unwrap()).unwrap();
        assert_eq!(inner, json!({"alpha": 0.9, "my-list": "[3,4]"}));
    }
}
