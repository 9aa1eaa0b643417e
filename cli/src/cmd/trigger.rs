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

/// One flow parameter as `ferry trigger FLOW.py --help` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct ParameterHelp {
    /// The parameter's name (`--name`).
    pub name: String,
    /// `str`, `int`, `float`, `bool` or `json`.
    pub ty: String,
    /// The default, as JSON text.
    pub default: Option<String>,
    /// `required=True`.
    pub required: bool,
    /// Its `help=` text.
    pub help: Option<String>,
}

/// The section `ferry trigger FLOW.py --help` adds below clap's help: the flow's parameters
/// with their types, defaults and help texts.
pub fn parameters_section(flow: &str, source: &str, params: &[ParameterHelp]) -> String {
    if params.is_empty() {
        return format!("\n{flow} ({source}) has no parameters.\n");
    }
    let mut out = format!("\nParameters of {flow} ({source}), as options after FLOW.py:\n");
    for p in params {
        let mut what = p.ty.clone();
        match (&p.default, p.required) {
            (Some(d), _) => what.push_str(&format!(", default {d}")),
            (None, true) => what.push_str(", required"),
            (None, false) => what.push_str(", no default"),
        }
        out.push_str(&format!("  --{} ({what})", p.name));
        if let Some(h) = p.help.as_deref().filter(|h| !h.trim().is_empty()) {
            out.push_str(&format!("  {}", h.trim()));
        }
        out.push('\n');
    }
    out
}

/// The flow or deployment `ferry trigger … --help` names in `argv` (the process arguments),
/// with its `--flow CLASS` and `--home DIR` when given: `None` when it names none.
fn help_target(argv: &[String]) -> Option<(String, Option<String>, Option<String>)> {
    let at = argv.iter().position(|a| a == "trigger")?;
    let takes_value = ["--home", "--flow", "--branch", "--run-id-file", "--tag"];
    let (mut target, mut class, mut home) = (None, None, None);
    // The global `--home` may come before the command.
    if let Some(h) = argv[..at].iter().position(|a| a == "--home") {
        home = argv.get(h + 1).cloned();
    }
    let mut i = at + 1;
    while i < argv.len() {
        let a = &argv[i];
        if takes_value.contains(&a.as_str()) {
            match a.as_str() {
                "--flow" => class = argv.get(i + 1).cloned(),
                "--home" => home = argv.get(i + 1).cloned(),
                _ => {}
            }
            i += 2;
            continue;
        }
        if let Some(v) = a.strip_prefix("--flow=") {
            class = Some(v.to_string());
        } else if let Some(v) = a.strip_prefix("--home=") {
            home = Some(v.to_string());
        } else if !a.starts_with('-') && target.is_none() {
            target = Some(a.clone());
        }
        i += 1;
    }
    Some((target?, class, home))
}

/// The parameters section for `ferry trigger FLOW.py --help` (`argv`: the process arguments):
/// from the flow file (exported with the real `metaflow`: types, defaults, help texts), or
/// from a deployment's record when a deployment name is given. `None` when the arguments name
/// no flow; a line saying why when the flow cannot be read.
pub async fn parameters_help(argv: &[String]) -> Option<String> {
    let (target, class, home) = help_target(argv)?;
    let path = std::path::Path::new(&target);
    let found: anyhow::Result<(String, String, Vec<ParameterHelp>)> = async {
        match crate::flow::deployment_named(path)? {
            None => {
                let spec = crate::flow::export_unvalidated(path, class.as_deref()).await?;
                let params = spec
                    .parameters
                    .iter()
                    .map(|p| ParameterHelp {
                        name: p.name.clone(),
                        ty: serde_json::to_value(p.ty)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_string))
                            .unwrap_or_default(),
                        default: p.default.as_ref().map(|d| d.to_string()),
                        required: p.required,
                        help: p.help.clone(),
                    })
                    .collect();
                Ok((spec.flow.clone(), format!("from {target}"), params))
            }
            Some(name) => {
                let ctx = Context::load(home.map(PathBuf::from), false)?;
                let store = ferry_deploy::DeploymentStore::new(ctx.table().await?);
                let Some(r) = store.get(&name).await? else {
                    bail!("no deployment {name}");
                };
                let params = r
                    .parameters
                    .iter()
                    .map(|p| ParameterHelp {
                        name: p.name.clone(),
                        ty: p.ty.clone(),
                        default: p.default.as_ref().map(|d| d.to_string()),
                        required: p.required,
                        help: None,
                    })
                    .collect();
                Ok((r.flow.clone(), format!("deployment {name}"), params))
            }
        }
    }
    .await;
    Some(match found {
        Ok((flow, source, params)) => parameters_section(&flow, &source, &params),
        Err(e) => format!("\nThe parameters of {target} cannot be listed: {e:#}\n"),
    })
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
    fn help_lists_the_flows_parameters_and_finds_the_flow_among_options() {
        let params = vec![
            ParameterHelp {
                name: "alpha".into(),
                ty: "float".into(),
                default: Some("0.5".into()),
                required: false,
                help: Some("Learning rate.".into()),
            },
            ParameterHelp {
                name: "day".into(),
                ty: "str".into(),
                default: None,
                required: true,
                help: None,
            },
        ];
        assert_eq!(
            parameters_section("TrainFlow", "from train.py", &params),
            "\nParameters of TrainFlow (from train.py), as options after FLOW.py:\n  --alpha (float, default 0.5)  Learning rate.\n  --day (str, required)\n"
        );
        let argv = s(&[
            "ferry", "--home", "/h", "trigger", "--tag", "x", "f.py", "--flow", "A", "--help",
        ]);
        assert_eq!(
            help_target(&argv),
            Some(("f.py".into(), Some("A".into()), Some("/h".into())))
        );
        assert_eq!(help_target(&s(&["ferry", "trigger", "--help"])), None);
        assert_eq!(help_target(&s(&["ferry", "status", "x"])), None);
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
