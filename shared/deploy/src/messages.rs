//! The human-readable lines of a [`crate::DeployResult`], worded as Metaflow's
//! `step-functions create/delete` words them (contract metaflow-sfn §4, §5, §7), with Ferry's
//! commands in place of Metaflow's. `platform` names where the flow runs ("AWS Step Functions",
//! "the Ferry embedded stack").

use ferry_compile::triggers::{TriggerKind, TriggerSpec};

/// "It seems this is the first time you are deploying X to P."
pub fn first_deploy(flow: &str, platform: &str) -> String {
    format!("It seems this is the first time you are deploying {flow} to {platform}.")
}

/// "A new production token generated."
pub const NEW_TOKEN: &str = "A new production token generated.";

/// "Using the given token, T." (a deploy with `--new-token T`).
pub fn given_token(token: &str) -> String {
    format!("Using the given token, {token}.")
}

/// The refusal when another user deploys (`action` = "deploy a new version of this flow",
/// `command` = "ferry deploy") or deletes (`action` = "delete this flow", `command` =
/// "ferry delete") without the token. `token_given`: a token was sent (from `--authorize` or the
/// user's token store) and it is not the deployment's; otherwise none was sent. Never names the
/// deployment's token.
pub fn refusal(
    deployment: &str,
    platform: &str,
    owner: &str,
    action: &str,
    command: &str,
    token_given: bool,
) -> Vec<String> {
    let mut out = vec![
        format!("There is an existing version of {deployment} on {platform} which was deployed by the user {owner}."),
        format!("To {action}, you need to use the same production token that they used."),
        "Please reach out to them to get the token. Once you have it, call this command:".to_string(),
        format!("    {command} --authorize MY_TOKEN"),
        "See \"Organizing Results\" at docs.metaflow.org for more information about production tokens.".to_string(),
        if token_given {
            "Incorrect production token: the token sent (given with --authorize, or stored on this machine by an earlier deploy of this flow) is not the token of this deployment.".to_string()
        } else {
            "Missing production token: you gave no --authorize, and no token for this flow is stored on this machine.".to_string()
        },
        format!("The token was printed to {owner} when they deployed, after \"The namespace of this production flow is\" (production:TOKEN); `ferry describe` shows it to them. Pass it with or without the production: prefix."),
    ];
    if command.ends_with("deploy") {
        out.push(format!("With the token you may also start a new production namespace: {command} --authorize MY_TOKEN --generate-new-token"));
    }
    out
}

/// The refusal to replace a state machine that Metaflow/Ferry did not deploy.
pub fn foreign(deployment: &str, platform: &str) -> String {
    format!(
        "An existing non-metaflow workflow with the same name as {deployment} already exists in {platform}. Please modify the name of this flow or delete your existing workflow on {platform}."
    )
}

/// The token block printed after every permitted deploy.
pub fn token_block(token: &str, platform: &str) -> Vec<String> {
    vec![
        "The namespace of this production flow is".to_string(),
        format!("    production:{token}"),
        "To analyze results of this production flow add this line in your notebooks:".to_string(),
        format!("    namespace(\"production:{token}\")"),
        format!(
            "If you want to authorize other people to deploy new versions of this flow to {platform}, they need to call"
        ),
        format!("    ferry deploy --authorize {token}"),
        format!("when deploying this flow to {platform} for the first time."),
        "See \"Organizing Results\" at https://docs.metaflow.org/ for more information about production tokens."
            .to_string(),
    ]
}

/// The note when `--namespace` moves the runs out of the production namespace.
pub fn custom_namespace(namespace: &str) -> String {
    format!(
        "Runs of this deployment are recorded in the namespace {namespace} (--namespace), not in the production namespace above."
    )
}

/// The success line of a deploy.
pub fn pushed(state_machine: &str, flow: &str, platform: &str) -> String {
    format!("State Machine {state_machine} for flow {flow} pushed to {platform} successfully.")
}

/// The "What will trigger execution of the workflow:" block: the schedule and the trigger
/// (`@trigger`, `@trigger_on_finish`), worded after Metaflow's Argo Workflows deployer
/// (`trigger_explanation`), or that runs start only by hand.
pub fn triggers(
    schedule: Option<(&str, &str, Option<&str>)>,
    trigger: Option<&TriggerSpec>,
    platform: &str,
) -> Vec<String> {
    let scheduler = if platform.starts_with("AWS") {
        "Amazon EventBridge Scheduler"
    } else {
        "the embedded stack's scheduler"
    };
    let mut out = vec!["What will trigger execution of the workflow:".to_string()];
    if let Some((name, expr, tz)) = schedule {
        out.push(format!(
            "    This workflow triggers automatically via a cron schedule {name} ({expr}, {}) defined in {scheduler}.",
            tz.unwrap_or("UTC")
        ));
    }
    if let Some(t) = trigger {
        out.extend(trigger_lines(t));
    }
    if out.len() == 1 {
        out.push("    No triggers defined. You need to launch this workflow manually.".to_string());
    }
    out
}

/// The lines saying what starts runs of a deployment with `trigger`.
fn trigger_lines(trigger: &TriggerSpec) -> Vec<String> {
    let several = trigger.events.len() > 1;
    let mut out = Vec::new();
    match trigger.kind {
        TriggerKind::Event => {
            let names: Vec<String> = trigger.events.iter().map(|e| e.name.clone()).collect();
            out.push(if several {
                format!(
                    "    This workflow triggers automatically when the events {} have each been published (a run uses them up: the next one needs every event again).",
                    prose(&names)
                )
            } else {
                format!(
                    "    This workflow triggers automatically when the event {} is published.",
                    names[0]
                )
            });
            for e in trigger.events.iter().filter(|e| !e.parameters.is_empty()) {
                let maps: Vec<String> = e
                    .parameters
                    .iter()
                    .map(|m| format!("{} from its field {}", m.parameter, m.field))
                    .collect();
                out.push(format!(
                    "    The event {} sets the parameter{} {}.",
                    e.name,
                    if maps.len() == 1 { "" } else { "s" },
                    prose(&maps)
                ));
            }
        }
        TriggerKind::Run => {
            let flows: Vec<String> = trigger
                .events
                .iter()
                .filter_map(|e| e.upstream.as_ref().map(|u| u.display_name()))
                .collect();
            out.push(if several {
                format!(
                    "    This workflow triggers automatically when {} have each succeeded (a run uses those successes up).",
                    prose(&flows)
                )
            } else {
                format!(
                    "    This workflow triggers automatically when {} succeeds.",
                    flows[0]
                )
            });
        }
    }
    if let Some(r) = &trigger.reset_at
        && several
    {
        out.push(format!(
            "    Events waiting for the others are forgotten at every {} ({}).",
            r.cron,
            r.timezone.as_deref().unwrap_or("UTC")
        ));
    }
    out
}

/// `a`, `a and b`, `a, b and c`.
fn prose(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The note when the name was shortened with a hash.
pub fn truncated() -> String {
    "Note that the flow was deployed with a truncated name due to a length limit on AWS Step Functions. The original long name is stored in task metadata.".to_string()
}

/// The lines of a delete. On Step Functions a deletion completes in the background, and a
/// deploy of the same name before it has is refused with a message saying to try again (the
/// embedded stack deletes at once, so nothing is said of it there).
pub fn deleting(state_machine: &str, platform: &str, schedule: Option<&str>) -> Vec<String> {
    let mut out = vec![format!(
        "Deleting {platform} state machine {state_machine}..."
    )];
    if let Some(s) = schedule {
        out.push(format!("Deleting schedule {s} as well..."));
    }
    if platform != crate::PLATFORM_LOCAL {
        out.push(format!(
            "Deleting a state machine on {platform} may take a minute; a deploy of the flow before it completes is refused and says to try again."
        ));
    }
    out.push(
        "In-flight executions will not be affected. If necessary, terminate them manually."
            .to_string(),
    );
    out
}

/// "The workflow X doesn't exist on P."
pub fn missing(deployment: &str, platform: &str) -> String {
    format!("The workflow {deployment} doesn't exist on {platform}.")
}

/// Where a deployment's runs send notifications, masked (`ferry deploy` output).
pub fn notifications(n: &crate::notifications::Notifications) -> String {
    format!("Notifications go {}.", n.summary())
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_delete_says_nothing_untrue_of_a_redeploy() {
        let local = deleting("F", crate::PLATFORM_LOCAL, None).join("\n");
        assert!(
            !local.contains("will fail") && !local.contains("may take"),
            "{local}"
        );
        let aws = deleting("F", crate::PLATFORM_AWS, Some("F-schedule")).join("\n");
        assert!(!aws.contains("will fail"), "{aws}");
        assert!(aws.contains("refused and says to try again"), "{aws}");
    }

    use super::*;
    use serde_json::json;

    fn spec(v: serde_json::Value) -> TriggerSpec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn what_starts_the_runs() {
        let platform = "AWS Step Functions";
        assert_eq!(
            triggers(None, None, platform)[1],
            "    No triggers defined. You need to launch this workflow manually."
        );
        let one = spec(
            json!({"kind": "event", "events": [{"name": "data_ready", "parameters": [
            {"parameter": "day", "field": "date", "type": "str"}]}]}),
        );
        assert_eq!(
            triggers(None, Some(&one), platform)[1..],
            [
                "    This workflow triggers automatically when the event data_ready is published.",
                "    The event data_ready sets the parameter day from its field date."
            ]
        );
        let two = spec(
            json!({"kind": "event", "events": [{"name": "a"}, {"name": "b"}, {"name": "c"}],
            "reset_at": {"cron": "0 0 * * *"}}),
        );
        let lines = triggers(Some(("S", "0 10 * * ? *", None)), Some(&two), platform);
        assert!(lines[1].contains("via a cron schedule S (0 10 * * ? *, UTC)"));
        assert_eq!(
            lines[2],
            "    This workflow triggers automatically when the events a, b and c have each been published (a run uses them up: the next one needs every event again)."
        );
        assert_eq!(
            lines[3],
            "    Events waiting for the others are forgotten at every 0 0 * * * (UTC)."
        );
        let up = |flow: &str, project: Option<&str>| {
            json!({"name": "n", "upstream": {"flow": flow, "project": project,
                "branch": project.map(|_| "prod"), "deployment": "d"}})
        };
        let on_finish = spec(json!({"kind": "run", "events": [up("FooFlow", None)]}));
        assert_eq!(
            triggers(None, Some(&on_finish), platform)[1],
            "    This workflow triggers automatically when FooFlow succeeds."
        );
        let both = spec(
            json!({"kind": "run", "events": [up("FooFlow", None), up("BarFlow", Some("lake"))]}),
        );
        assert_eq!(
            triggers(None, Some(&both), platform)[1],
            "    This workflow triggers automatically when FooFlow and lake.prod.BarFlow have each succeeded (a run uses those successes up)."
        );
    }
}
