//! The latest `attempt` / `attempt_ok` metadata of each task is kept on its item, so listing a
//! step's tasks tells their states (what the UI's per-step counts read) without a metadata query
//! per task; a listing projected to those attributes (`TaskBrief`) tells the same.

use serde_json::json;

use crate::on_both_backends;
use crate::support::{Backend, seg, server_with, table};

on_both_backends!(task_items_carry_their_latest_attempt);

fn md(field: &str, value: &str, attempt: u32) -> serde_json::Value {
    json!({"field_name": field, "type": field, "value": value,
           "tags": [format!("attempt_id:{attempt}")], "user_name": "alice"})
}

async fn task_items_carry_their_latest_attempt(b: Backend) {
    let t = table(b).await;
    let s = server_with(t.clone(), None).await;
    let run = seg(&s.flow_and_run("F").await);
    let ok = seg(&s.step_and_task("F", &run, "s", None).await);
    let retried = seg(&s.step_and_task("F", &run, "s", None).await);
    let fresh = seg(&s.step_and_task("F", &run, "s", None).await);
    let url = |task: &str| format!("/flows/F/runs/{run}/steps/s/tasks/{task}/metadata");
    s.post(
        &url(&ok),
        json!([md("attempt", "0", 0), md("origin-run-id", "x", 0)]),
    )
    .await;
    s.post(&url(&ok), json!([md("attempt_ok", "True", 0)]))
        .await;
    s.post(&url(&retried), json!([md("attempt", "0", 0)])).await;
    s.post(&url(&retried), json!([md("attempt_ok", "False", 0)]))
        .await;
    // The next attempt starts a little later (timestamps are in ms).
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    s.post(&url(&retried), json!([md("attempt", "1", 1)])).await;

    let repo = ferry_metadata::repo::Repo::new(t);
    let r = repo.resolve_run("F", &run).await.unwrap().unwrap();
    let tasks = repo.list_tasks(&r, "s").await.unwrap();
    let by_id = |id: &str| {
        tasks
            .iter()
            .find(|x| x.exposed_str() == id)
            .unwrap_or_else(|| panic!("task {id} listed"))
            .status
    };
    let done = by_id(&ok);
    assert_eq!((done.attempt, done.outcome()), (Some(0), Some(true)));
    assert!(done.attempt_ok_ts >= done.attempt_ts && done.attempt_ts > 0);
    let again = by_id(&retried);
    assert_eq!(again.attempt, Some(1));
    assert!(again.retrying(), "{again:?}");
    assert_eq!(again.outcome(), None, "its second attempt runs");
    let none = by_id(&fresh);
    assert_eq!((none.attempt, none.attempt_ok), (None, None));

    s.post(&url(&retried), json!([md("attempt_ok", "True", 1)]))
        .await;
    let tasks = repo.list_tasks(&r, "s").await.unwrap();
    let again = tasks
        .iter()
        .find(|x| x.exposed_str() == retried)
        .unwrap()
        .status;
    assert_eq!((again.attempt, again.outcome()), (Some(1), Some(true)));

    // The briefs (a query projected to the attempt attributes) tell the same, by id, and page
    // in the store both ways.
    let briefs = repo.list_task_briefs(&r, "s").await.unwrap();
    let whole: Vec<_> = tasks.iter().map(|t| t.brief()).collect();
    assert_eq!(briefs, whole);
    let (first, more) = repo
        .task_briefs_page(&r, "s", None, false, 2)
        .await
        .unwrap();
    assert_eq!((first.as_slice(), more), (&whole[..2], true));
    let (rest, more) = repo
        .task_briefs_page(&r, "s", Some(first[1].task_id), false, 2)
        .await
        .unwrap();
    assert_eq!((rest.as_slice(), more), (&whole[2..], false));
    let (back, more) = repo
        .task_briefs_page(&r, "s", Some(whole[2].task_id), true, 5)
        .await
        .unwrap();
    assert_eq!(back, vec![whole[1].clone(), whole[0].clone()]);
    assert!(!more);
}
