//! The human-readable lines of a [`crate::DeployResult`], worded as Metaflow's
//! `step-functions create/delete` words them (contract metaflow-sfn §4, §5, §7), with Ferry's
//! commands in place of Metaflow's. `platform` names where the flow runs ("AWS Step Functions",
//! "the Ferry embedded stack").

/// "It seems this is the first time you are deploying X to P."
pub fn first_deploy(flow: &str, platform: &str) -> String {
    format!("It seems this is the first time you are deploying {flow} to {platform}.")
}

/// "A new production token generated."
pub const NEW_TOKEN: &str = "A new production token generated.";

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

/// The "What will trigger execution of the workflow:" block.
pub fn triggers(schedule: Option<(&str, &str, Option<&str>)>, platform: &str) -> Vec<String> {
    let scheduler = if platform.starts_with("AWS") {
        "Amazon EventBridge Scheduler"
    } else {
        "the embedded stack's scheduler"
    };
    let line = match schedule {
        Some((name, expr, tz)) => format!(
            "    This workflow triggers automatically via a cron schedule {name} ({expr}, {}) defined in {scheduler}.",
            tz.unwrap_or("UTC")
        ),
        None => "    No triggers defined. You need to launch this workflow manually.".to_string(),
    };
    vec![
        "What will trigger execution of the workflow:".to_string(),
        line,
    ]
}

/// The note when the name was shortened with a hash.
pub fn truncated() -> String {
    "Note that the flow was deployed with a truncated name due to a length limit on AWS Step Functions. The original long name is stored in task metadata.".to_string()
}

/// The lines of a delete.
pub fn deleting(state_machine: &str, platform: &str, schedule: Option<&str>) -> Vec<String> {
    let mut out = vec![format!(
        "Deleting {platform} state machine {state_machine}..."
    )];
    if let Some(s) = schedule {
        out.push(format!("Deleting schedule {s} as well..."));
    }
    out.push(format!(
        "Deleting a state machine on {platform} may take a while. Deploying the flow again to {platform} while the delete is in-flight will fail."
    ));
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
