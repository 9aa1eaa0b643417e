//! One bad flow per validation rule, with the exact message a user sees.

use ferry_spec::validate::{ValidationError, validate};
use ferry_spec::{FlowSpec, GraphError};
use serde_json::{Value, json};

/// A small valid flow: start -> (a, b) -> join -> fan (foreach) -> body -> join_fan -> end.
fn base() -> Value {
    json!({
        "spec_version": 1,
        "flow": "RulesFlow",
        "file": "rules.py",
        "parameters": [
            {"name": "alpha", "type": "float", "default": 0.5},
            {"name": "label", "type": "str", "default": "x"}
        ],
        "steps": [
            {"name": "start", "type": "split", "next": ["a", "b"]},
            {"name": "a", "type": "linear", "next": ["join"]},
            {"name": "b", "type": "linear", "next": ["join"]},
            {"name": "join", "type": "join", "next": ["fan"]},
            {"name": "fan", "type": "foreach", "foreach": "items", "next": ["body"]},
            {"name": "body", "type": "linear", "next": ["join_fan"]},
            {"name": "join_fan", "type": "join", "next": ["end"]},
            {"name": "end", "type": "end"}
        ]
    })
}

fn step_mut<'a>(v: &'a mut Value, name: &str) -> &'a mut Value {
    v["steps"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|s| s["name"] == name)
        .unwrap()
}

fn set_next(v: &mut Value, name: &str, next: &[&str]) {
    step_mut(v, name)["next"] = json!(next);
}

fn steps(list: Value) -> Value {
    let mut v = base();
    v["steps"] = list;
    v
}

fn messages(v: &Value) -> Vec<String> {
    let spec: FlowSpec = serde_json::from_value(v.clone()).expect("test spec parses");
    match validate(&spec) {
        Ok(_) => Vec::new(),
        Err(e) => e.errors().iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn base_flow_is_valid() {
    let spec: FlowSpec = serde_json::from_value(base()).unwrap();
    let graph = validate(&spec).expect("valid");
    assert_eq!(
        graph.sorted_names(),
        ["start", "a", "b", "join", "fan", "body", "join_fan", "end"]
    );
}

type Case = (&'static str, Box<dyn Fn(&mut Value)>, &'static str);

fn cases() -> Vec<Case> {
    vec![
        (
            "unreachable step",
            Box::new(|v| {
                v["steps"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"name": "orphan", "type": "linear", "next": ["end"]}))
            }),
            "Step *orphan* can never run: no path from start leads to it. Call self.next(self.orphan) from another step, or delete it.",
        ),
        (
            "cycle",
            Box::new(|v| set_next(v, "body", &["fan"])),
            "The flow has a cycle: fan -> body -> fan. Flows must be acyclic: remove one of these transitions.",
        ),
        (
            "two parents without inputs",
            Box::new(|v| {
                *v = steps(json!([
                    {"name": "start", "type": "split", "next": ["a", "b"]},
                    {"name": "a", "type": "linear", "next": ["end"]},
                    {"name": "b", "type": "linear", "next": ["end"]},
                    {"name": "end", "type": "end"}
                ]))
            }),
            "Step *end* has 2 incoming steps (a, b) but does not take inputs. Make it a join step: def end(self, inputs).",
        ),
        (
            "split never joined before end",
            Box::new(|v| {
                *v = steps(json!([
                    {"name": "start", "type": "foreach", "foreach": "xs", "next": ["a"]},
                    {"name": "a", "type": "linear", "next": ["end"]},
                    {"name": "end", "type": "end"}
                ]))
            }),
            "Split *start* is never joined: step *end* is reached while it is still open. Add a join step (def join(self, inputs)) that all its branches lead to, before end.",
        ),
        (
            "foreach closed by the wrong join",
            Box::new(|v| {
                *v = steps(json!([
                    {"name": "start", "type": "split", "next": ["a", "fan"]},
                    {"name": "a", "type": "linear", "next": ["join"]},
                    {"name": "fan", "type": "foreach", "foreach": "xs", "next": ["body"]},
                    {"name": "body", "type": "linear", "next": ["join"]},
                    {"name": "join", "type": "join", "next": ["end"]},
                    {"name": "end", "type": "end"}
                ]))
            }),
            "Step *join* joins steps from unrelated splits: a is inside split start but body is inside foreach fan. Every split and every foreach needs its own join; close the inner one first.",
        ),
        (
            "join missing a branch",
            Box::new(|v| {
                *v = steps(json!([
                    {"name": "start", "type": "split", "next": ["a", "b"]},
                    {"name": "a", "type": "linear", "next": ["join"]},
                    {"name": "b", "type": "linear", "next": ["join2"]},
                    {"name": "join", "type": "join", "next": ["join2"]},
                    {"name": "join2", "type": "join", "next": ["end"]},
                    {"name": "end", "type": "end"}
                ]))
            }),
            "Step *join* joins split *start* but receives only branch(es) [\"a\"] of [\"a\", \"b\"]. Every branch of a split must lead to the same join.",
        ),
        (
            "join and split",
            Box::new(|v| set_next(v, "join", &["fan", "end"])),
            "Step *join* is both a join step (it takes inputs) and a split step (it fans out). Add a new step so that the join and the split are separate steps.",
        ),
        (
            "join without split",
            Box::new(|v| {
                *v = steps(json!([
                    {"name": "start", "type": "linear", "next": ["a"]},
                    {"name": "a", "type": "join", "next": ["end"]},
                    {"name": "end", "type": "end"}
                ]))
            }),
            "Step *a* is a join step (it takes inputs) but no split or foreach is open before it. Remove its inputs argument, or add a matching split.",
        ),
        (
            "empty foreach",
            Box::new(|v| {
                *v = steps(json!([
                    {"name": "start", "type": "foreach", "foreach": "xs", "next": ["join"]},
                    {"name": "join", "type": "join", "next": ["end"]},
                    {"name": "end", "type": "end"}
                ]))
            }),
            "Step *start* fans out directly into the join *join*, leaving a branch with no step. Add at least one step between the split and the join.",
        ),
        (
            "no start",
            Box::new(|v| step_mut(v, "start")["name"] = json!("begin")),
            "The flow has no *start* step. Add a step named start: it is where every run begins.",
        ),
        (
            "no end",
            Box::new(|v| {
                step_mut(v, "end")["name"] = json!("finish");
                set_next(v, "join_fan", &["finish"]);
            }),
            "The flow has no *end* step. Add a step named end: every run must finish there.",
        ),
        (
            "end with next",
            Box::new(|v| set_next(v, "end", &["a"])),
            "The *end* step transitions to [\"a\"], but end must be the last step. Remove its self.next(...).",
        ),
        (
            "start with inputs",
            Box::new(|v| {
                step_mut(v, "start")["type"] = json!("join");
                set_next(v, "start", &["a"]);
                set_next(v, "a", &["end"]);
                v["steps"] = json!([
                    {"name": "start", "type": "join", "next": ["end"]},
                    {"name": "end", "type": "end"}
                ]);
            }),
            "The *start* step takes inputs (it is a join), but nothing runs before start. Remove the inputs argument from start.",
        ),
        (
            "unknown next",
            Box::new(|v| set_next(v, "a", &["jion"])),
            "Step *a* transitions to an unknown step *jion*. Check the name in its self.next(...) call, or define step jion.",
        ),
        (
            "missing next",
            Box::new(|v| set_next(v, "a", &[])),
            "Step *a* has no transition to a next step. End it with self.next(self.<step>); only the end step has none.",
        ),
        (
            "duplicate step",
            Box::new(|v| {
                v["steps"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"name": "a", "type": "linear", "next": ["join"]}))
            }),
            "Step *a* is defined more than once. Give every step a unique name.",
        ),
        (
            "switch",
            Box::new(|v| step_mut(v, "start")["type"] = json!("switch")),
            "Step *start* is a switch (a conditional self.next({...}, condition=...)). Ferry cannot deploy switch steps to Step Functions yet; branch with a split and decide inside the branches instead.",
        ),
        (
            "parallel",
            Box::new(|v| step_mut(v, "fan")["num_parallel"] = json!(4)),
            "Step *fan* fans out with num_parallel (@parallel). Ferry cannot deploy @parallel steps to Step Functions; use a foreach over a list instead.",
        ),
        (
            "flow name Step Functions refuses",
            Box::new(|v| v["flow"] = json!("My Flow")),
            "The flow name *My Flow* cannot be deployed: Step Functions does not allow ' ' in names. Rename the flow class.",
        ),
        (
            "flow name too long",
            Box::new(|v| v["flow"] = json!("F".repeat(81))),
            "The flow name *FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF* cannot be deployed: it has 81 characters and Step Functions allows at most 80. Rename the flow class.",
        ),
        (
            "flow name Batch refuses",
            Box::new(|v| v["flow"] = json!("CaféFlow")),
            "The flow name *CaféFlow* cannot be deployed: AWS Batch job names allow only A-Z, a-z, 0-9, _ and -, not 'é'. Rename the flow class.",
        ),
        (
            "Batch job name too long",
            Box::new(|v| {
                v["flow"] = json!("F".repeat(70));
                let long = "s".repeat(60);
                step_mut(v, "body")["name"] = json!(long);
                set_next(v, "fan", &[long.as_str()]);
            }),
            "The flow name *FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF* cannot be deployed: with its longest step name the Batch job name (SFN-<flow>--<step>--) has 138 characters and AWS Batch allows 128; shorten the flow or step name. Rename the flow class.",
        ),
        (
            "step name",
            Box::new(|v| {
                step_mut(v, "a")["name"] = json!("Train-Model");
                set_next(v, "start", &["Train-Model", "b"]);
            }),
            "Step *Train-Model* has a name that cannot be deployed: step names may contain only lowercase ASCII letters, digits and _ (Metaflow's rule), not 'T'. Rename the step.",
        ),
        (
            "reserved step name",
            Box::new(|v| {
                step_mut(v, "a")["name"] = json!("input");
                set_next(v, "start", &["input", "b"]);
            }),
            "Step *input* has a name that cannot be deployed: input is a reserved word in Metaflow (every flow has an attribute of that name). Rename the step.",
        ),
        (
            "step name too long for a state",
            Box::new(|v| {
                let long = "b".repeat(80);
                step_mut(v, "b")["name"] = json!(long);
                set_next(v, "start", &["a", long.as_str()]);
            }),
            "Step *bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb* has a name that cannot be deployed: it has 80 characters; Step Functions state names allow 80 and Ferry adds 1. Rename the step.",
        ),
        (
            "cron with five fields",
            Box::new(|v| {
                v["decorators"] = json!({"schedule": {"kind": "cron", "cron": "0 10 * * *"}})
            }),
            "The @schedule cron of this flow is not valid: the cron expression \"0 10 * * *\" has 5 field(s); EventBridge needs exactly 6: minutes hours day-of-month month day-of-week year, e.g. \"0 10 * * ? *\".",
        ),
        (
            "cron with both day fields",
            Box::new(|v| {
                v["decorators"] = json!({"schedule": {"kind": "cron", "cron": "0 10 * * MON *"}})
            }),
            "The @schedule cron of this flow is not valid: the cron expression \"0 10 * * MON *\" must have exactly one of day-of-month (3rd field) and day-of-week (5th field) set to \"?\", e.g. \"0 10 * * ? *\" or \"0 10 ? * MON *\".",
        ),
        (
            "cron out of range",
            Box::new(|v| {
                v["decorators"] = json!({"schedule": {"kind": "cron", "cron": "0 24 * * ? *"}})
            }),
            "The @schedule cron of this flow is not valid: the hours field \"24\" of the cron expression \"0 24 * * ? *\" has 24; it must be between 0 and 23.",
        ),
        (
            "unknown time zone",
            Box::new(|v| {
                v["decorators"] =
                    json!({"schedule": {"kind": "daily", "timezone": "Europe/Pariss"}})
            }),
            "The @schedule timezone \"Europe/Pariss\" is unknown. Use an IANA time zone name such as \"Europe/Paris\" or \"America/New_York\".",
        ),
        (
            "required parameter under schedule",
            Box::new(|v| {
                v["decorators"] = json!({"schedule": {"kind": "hourly"}});
                v["parameters"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"name": "day", "type": "str", "required": true}));
            }),
            "The parameter *day* does not have a default and is required. Scheduling such parameters via AWS Event Bridge is not currently supported. Give it a default or remove @schedule.",
        ),
        (
            "parameter names equal ignoring case",
            Box::new(|v| {
                v["parameters"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"name": "Alpha", "type": "int", "default": 1}))
            }),
            "Parameter *Alpha* is specified twice. Note that parameter names are case-insensitive.",
        ),
        (
            "reserved parameter name",
            Box::new(|v| {
                v["parameters"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"name": "run_id", "type": "str", "default": "r"}))
            }),
            "Parameter *run_id* cannot be used: Metaflow reserves this name for one of its own options. Rename the parameter.",
        ),
        (
            "parameter named like a ferry trigger option",
            Box::new(|v| {
                v["parameters"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"name": "home", "type": "str", "default": "h"}))
            }),
            "Parameter *home* cannot be used: `ferry trigger --home` is one of Ferry's own options, so the parameter could never be set. Rename the parameter.",
        ),
        (
            "parameter default of the wrong type",
            Box::new(|v| v["parameters"][0]["default"] = json!("half")),
            "Parameter *alpha* is of type float but its default \"half\" is not. Change the default or the type.",
        ),
        (
            "timeout under 60 s",
            Box::new(|v| step_mut(v, "a")["decorators"] = json!({"timeout": {"seconds": 30}})),
            "The timeout for step *a* should be at least 60 seconds for execution on AWS Batch (it is 30 s). Raise @timeout to 60 seconds or more.",
        ),
        (
            "too many retries",
            Box::new(|v| step_mut(v, "b")["decorators"] = json!({"retry": {"times": 5}})),
            "Step *b* has @retry(times=5); the maximum number of retries is @retry(times=4).",
        ),
        (
            "catch on a foreach",
            Box::new(|v| step_mut(v, "fan")["decorators"] = json!({"catch": {}})),
            "@catch is defined for the step *fan* but @catch is not supported for foreach branches. Move @catch to the steps inside the foreach, or remove it.",
        ),
        (
            "unsupported step decorator",
            Box::new(|v| step_mut(v, "a")["decorators"] = json!({"unsupported": ["kubernetes"]})),
            "Step *a* uses @kubernetes, which Ferry cannot deploy to Step Functions. Remove it (use @batch or @resources for compute).",
        ),
        (
            "unsupported flow decorator",
            Box::new(|v| v["decorators"] = json!({"unsupported": ["airflow_s3_key_sensor"]})),
            "The flow uses @airflow_s3_key_sensor: Ferry cannot deploy flows with @airflow_s3_key_sensor to Step Functions. Remove it.",
        ),
        (
            "project name",
            Box::new(|v| v["decorators"] = json!({"project": {"name": "Fraud-Model"}})),
            "The @project name \"Fraud-Model\" must contain only lowercase alphanumeric characters and underscores.",
        ),
        (
            "project without name",
            Box::new(|v| v["decorators"] = json!({"project": {"name": ""}})),
            "@project needs a name. Try @project(name='some_name').",
        ),
        (
            "project branch",
            Box::new(|v| {
                v["decorators"] = json!({"project": {"name": "fraud", "branch": "Bad-Branch"}})
            }),
            "The branch name \"Bad-Branch\" must contain only lowercase alphanumeric characters and underscores.",
        ),
        (
            "project name too long",
            Box::new(|v| v["decorators"] = json!({"project": {"name": "p".repeat(129)}})),
            "The @project name must be shorter than 128 characters.",
        ),
        (
            "environment variable name",
            Box::new(|v| {
                step_mut(v, "a")["decorators"] = json!({"environment": {"vars": {"MY VAR": "1"}}})
            }),
            "Step *a* sets the environment variable \"MY VAR\" in @environment; names must be letters, digits and _ and not start with a digit.",
        ),
        (
            "empty command",
            Box::new(|v| step_mut(v, "a")["command"] = json!([])),
            "Step *a* has an empty command. Give the program to run and its arguments.",
        ),
        (
            "spec version",
            Box::new(|v| v["spec_version"] = json!(3)),
            "This spec has spec_version 3, but this Ferry reads versions 1 to 2. Export the flow again with this Ferry (ferry spec FLOW.py).",
        ),
        (
            "triggers in a version 1 spec",
            Box::new(|v| {
                trigger(v, json!({"events": [{"name": "a"}]}));
                v["spec_version"] = json!(1);
            }),
            "This spec has spec_version 1 but uses @trigger or @trigger_on_finish, which need version 2. Export the flow again with this Ferry (ferry spec FLOW.py).",
        ),
        (
            "both trigger decorators",
            Box::new(|v| {
                trigger(v, json!({"events": [{"name": "a"}]}));
                v["decorators"]["trigger_on_finish"] = json!({"flows": [{"flow": "Up"}]});
            }),
            "The flow uses both @trigger and @trigger_on_finish. Ferry, like Metaflow's Argo Workflows deployer, deploys one or the other: keep one of them.",
        ),
        (
            "no events",
            Box::new(|v| trigger(v, json!({"events": []}))),
            "No event(s) specified in *@trigger* decorator.",
        ),
        (
            "event name with a space",
            Box::new(|v| trigger(v, json!({"events": [{"name": "data ready"}]}))),
            "The @trigger event name \"data ready\" cannot be used: only letters, digits, '_', '-' and '.' are allowed in event names (Metaflow's rule), not ' '.",
        ),
        (
            "event name longer than an EventBridge detail-type",
            Box::new(|v| trigger(v, json!({"events": [{"name": "e".repeat(129)}]}))),
            Box::leak(
                format!(
                    "The @trigger event name \"{}\" cannot be used: it has 129 characters and AWS EventBridge carries event names of at most 128 (an event's detail-type); shorten it.",
                    "e".repeat(129)
                )
                .into_boxed_str(),
            ),
        ),
        (
            "the same event twice",
            Box::new(|v| trigger(v, json!({"events": [{"name": "a"}, {"name": "a"}]}))),
            "Duplicate event names defined in *@trigger* decorator: *a*.",
        ),
        (
            "mapping a parameter the flow lacks",
            Box::new(|v| {
                trigger(v, json!({"events": [{"name": "a", "parameters": {"beta": "b"}}]}))
            }),
            "Parameter *beta* defined in the event mappings for *@trigger* decorator not found in the flow. The flow's parameters are: alpha, label.",
        ),
        (
            "two events setting one parameter",
            Box::new(|v| {
                trigger(
                    v,
                    json!({"events": [
                        {"name": "a", "parameters": {"alpha": "x"}},
                        {"name": "b", "parameters": {"ALPHA": "y"}}
                    ]}),
                )
            }),
            "Duplicate entries for parameter *alpha* defined in the event mappings for *@trigger* decorator.",
        ),
        (
            "mapping to an empty field",
            Box::new(|v| trigger(v, json!({"events": [{"name": "a", "parameters": {"alpha": ""}}]}))),
            "The event *a* of @trigger maps parameter *alpha* to an empty payload field. Name the field, e.g. parameters={'alpha': 'field'}.",
        ),
        (
            "a required parameter no event sets",
            Box::new(|v| {
                v["parameters"][1] = json!({"name": "label", "type": "str", "required": true});
                trigger(v, json!({"events": [{"name": "a", "parameters": {"alpha": "x"}}]}));
            }),
            "The parameter *label* is required and has no default, but no event of @trigger sets it. Give it a default, or set it from an event's payload: parameters={'label': 'field'}.",
        ),
        (
            "a required parameter with @trigger_on_finish",
            Box::new(|v| {
                v["parameters"][1] = json!({"name": "label", "type": "str", "required": true});
                on_finish(v, json!({"flows": [{"flow": "UpFlow"}]}));
            }),
            "The parameter *label* is required and has no default, but runs started by @trigger_on_finish cannot set parameters. Give it a default.",
        ),
        (
            "an unknown option",
            Box::new(|v| trigger(v, json!({"events": [{"name": "a"}], "options": {"unsupported": ["retries"]}}))),
            "@trigger has options={'retries': ...}, which Ferry does not know. Ferry supports options={'reset_at': {'cron': '0 0 * * *', 'timezone': 'Europe/Paris'}}, the one option Metaflow's Argo Workflows deployer reads; remove the others.",
        ),
        (
            "a reset_at cron of 6 fields",
            Box::new(|v| {
                trigger(
                    v,
                    json!({"events": [{"name": "a"}], "options": {"reset_at": {"cron": "0 0 * * ? *"}}}),
                )
            }),
            "The reset_at option of @trigger is not valid: the cron expression \"0 0 * * ? *\" is not valid: it has 6 field(s); reset_at takes a standard cron of 5: minute hour day-of-month month day-of-week, e.g. \"0 0 * * *\".",
        ),
        (
            "no upstream flows",
            Box::new(|v| on_finish(v, json!({"flows": []}))),
            "No flow(s) specified in *@trigger_on_finish* decorator.",
        ),
        (
            "an upstream flow name with a dash",
            Box::new(|v| on_finish(v, json!({"flows": [{"flow": "Up-Flow"}]}))),
            "Invalid flow name *Up-Flow* in *@trigger_on_finish* decorator. Only alphanumeric characters and underscores(_) are allowed.",
        ),
        (
            "an upstream project without a branch, no @project",
            Box::new(|v| on_finish(v, json!({"flows": [{"flow": "UpFlow", "project": "lake"}]}))),
            "Incomplete project info for the upstream flow *UpFlow* of @trigger_on_finish. Please specify both 'project' and 'project_branch' or use the @project decorator.",
        ),
        (
            "an upstream branch that is not a branch",
            Box::new(|v| {
                on_finish(
                    v,
                    json!({"flows": [{"flow": "UpFlow", "project": "lake", "branch": "prod/x"}]}),
                )
            }),
            "The upstream flow *UpFlow* of @trigger_on_finish: the branch \"prod/x\" is not a Metaflow branch; branches look like prod, prod.staging, test.my_experiment or user.bob.",
        ),
        (
            "the same upstream twice",
            Box::new(|v| on_finish(v, json!({"flows": [{"flow": "UpFlow"}, {"flow": "UpFlow"}]}))),
            "The upstream flow *UpFlow* is listed twice in @trigger_on_finish.",
        ),
    ]
}

/// Put `@trigger` on the flow (a version 2 spec).
fn trigger(v: &mut Value, trigger: Value) {
    if v["decorators"].is_null() {
        v["decorators"] = json!({});
    }
    v["decorators"]["trigger"] = trigger;
    v["spec_version"] = json!(2);
}

/// Put `@trigger_on_finish` on a version 2 spec.
fn on_finish(v: &mut Value, on_finish: Value) {
    if v["decorators"].is_null() {
        v["decorators"] = json!({});
    }
    v["decorators"]["trigger_on_finish"] = on_finish;
    v["spec_version"] = json!(2);
}

#[test]
fn one_bad_flow_per_rule() {
    let mut failures = Vec::new();
    for (rule, mutate, expected) in cases() {
        let mut v = base();
        mutate(&mut v);
        let got = messages(&v);
        if got.first().map(String::as_str) != Some(expected) {
            failures.push(format!(
                "{rule}:\n  expected: {expected}\n  got:      {got:#?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn all_errors_are_collected() {
    let mut v = base();
    v["flow"] = json!("Bad Flow");
    step_mut(&mut v, "a")["decorators"] = json!({"timeout": {"seconds": 5}, "retry": {"times": 9}});
    v["decorators"] =
        json!({"schedule": {"kind": "cron", "cron": "bad"}, "project": {"name": "X"}});
    let spec: FlowSpec = serde_json::from_value(v).unwrap();
    let errors = validate(&spec).unwrap_err();
    assert_eq!(errors.errors().len(), 5, "{errors}");
    let text = errors.to_string();
    assert!(
        text.starts_with("the flow cannot be deployed (5 problems):"),
        "{text}"
    );
    assert!(
        text.contains("Bad Flow") && text.contains("@retry(times=9)"),
        "{text}"
    );
}

#[test]
fn graph_errors_keep_their_kind() {
    let mut v = base();
    set_next(&mut v, "a", &["nowhere"]);
    let spec: FlowSpec = serde_json::from_value(v).unwrap();
    let errors = validate(&spec).unwrap_err();
    assert!(matches!(
        &errors.errors()[0],
        ValidationError::Graph(GraphError::UnknownNext { step, target }) if step == "a" && target == "nowhere"
    ));
}

#[test]
fn exit_hooks_need_a_function_named_as_python_names() {
    let mut v = base();
    v["decorators"] = json!({"exit_hook": {"on_success": ["notify", "ops.alerts.page"]}});
    assert!(messages(&v).is_empty(), "{:?}", messages(&v));
    v["decorators"] = json!({"exit_hook": {}});
    assert_eq!(
        messages(&v),
        ["@exit_hook: choose at least one of on_success=[...] or on_error=[...]"]
    );
    v["decorators"] = json!({"exit_hook": {"on_error": ["rm -rf", "a..b"], "image": "bad image"}});
    assert_eq!(
        messages(&v),
        [
            "@exit_hook: on_error names \"rm -rf\", which is not a Python function name or import path (e.g. notify_team, or ops.alerts.notify_team)",
            "@exit_hook: on_error names \"a..b\", which is not a Python function name or import path (e.g. notify_team, or ops.alerts.notify_team)",
            "@exit_hook: options image \"bad image\" is not a container image name",
        ]
    );
}
