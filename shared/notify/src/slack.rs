//! The Slack message: an incoming-webhook body with a fallback `text` (what Argo Workflows'
//! Metaflow integration sends: `:rotating_light: _<Flow>/<run>_ failed!`) and Block Kit
//! `blocks`: a header, the facts as fields, the reason, and the commands to look further.
//! Block Kit limits respected: header text ≤ 150, field and section text ≤ 2,000/3,000
//! characters, at most 10 fields (api.slack.com/reference/block-kit/blocks).

use serde_json::{Value, json};

use crate::cause::shorten;
use crate::summary::RunSummary;

/// The webhook body for `run`.
pub fn message(run: &RunSummary) -> Value {
    let emoji = if run.status.is_error() {
        ":rotating_light:"
    } else {
        ":white_check_mark:"
    };
    let text = format!("{emoji} _{}_ {}!", run.pathspec(), run.status.phrase());
    let fields: Vec<Value> = run
        .facts()
        .into_iter()
        .filter(|(k, _)| *k != "Reason")
        .take(10)
        .map(|(k, v)| json!({"type": "mrkdwn", "text": shorten(&format!("*{k}*\n{}", code(&v)), 2000)}))
        .collect();
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": shorten(&format!("{} {}", run.pathspec(), run.status.phrase()), 150), "emoji": true}}),
        json!({"type": "section", "fields": fields}),
    ];
    if let Some(reason) = run.reason() {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": shorten(&format!("*Reason*\n```{}```", reason.replace("```", "'''")), 3000)}}));
    }
    let commands: Vec<String> = run.commands().iter().map(|c| format!("`{c}`")).collect();
    blocks.push(json!({"type": "divider"}));
    blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": shorten(&format!("Look further: {}", commands.join("  ")), 2000)}]}));
    json!({"text": text, "blocks": blocks})
}

/// A value in inline code, unless it has backticks.
fn code(v: &str) -> String {
    if v.contains('`') || v.is_empty() {
        v.to_string()
    } else {
        format!("`{v}`")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::tests::failed;

    #[test]
    fn block_kit_message_of_a_failed_run() {
        let m = message(&failed());
        assert_eq!(
            m["text"],
            ":rotating_light: _EmbeddedFailFlow/sfn-0b8c8d1e_ failed!"
        );
        let b = m["blocks"].as_array().unwrap();
        assert_eq!(b[0]["type"], "header");
        assert_eq!(b[0]["text"]["text"], "EmbeddedFailFlow/sfn-0b8c8d1e failed");
        let fields: Vec<&str> = b[1]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["text"].as_str().unwrap())
            .collect();
        assert_eq!(fields[0], "*Flow*\n`EmbeddedFailFlow`");
        assert!(fields.contains(&"*Failing step*\n`explode`"), "{fields:?}");
        assert!(fields.contains(&"*Status*\n`FAILED`"), "{fields:?}");
        assert!(
            b[2]["text"]["text"]
                .as_str()
                .unwrap()
                .contains("exit code 1")
        );
        assert_eq!(b[3]["type"], "divider");
        assert_eq!(
            b[4]["elements"][0]["text"],
            "Look further: `ferry status sfn-0b8c8d1e`  `ferry logs EmbeddedFailFlow/sfn-0b8c8d1e/explode --stderr`"
        );
    }
}
