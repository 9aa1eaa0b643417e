//! The process Batch runner against real processes (`/bin/sh` scripts as the job command).

use std::path::Path;
use std::time::Duration;

use ferry_local::runner::{ProcessRunner, RunnerConfig};
use serde_json::{Value, json};

fn runner(home: &Path, workers: usize) -> ProcessRunner {
    let mut cfg = RunnerConfig::under(home);
    cfg.max_workers = workers;
    cfg.kill_grace = Duration::from_secs(2);
    ProcessRunner::new(cfg)
}

fn job(script: &str, env: &[(&str, &str)], attempts: u32, timeout: Option<u64>) -> Value {
    let env: Vec<Value> = env
        .iter()
        .map(|(k, v)| json!({"Name": k, "Value": v}))
        .collect();
    let mut j = json!({
        "JobName": "SFN-TestFlow--step--",
        "JobQueue": "local",
        "JobDefinition": "local",
        "Parameters": {"metaflow.run_id": "exec-1", "step_name": "step"},
        "ContainerOverrides": {"Command": ["/bin/sh", "-c", script], "Environment": env},
        "RetryStrategy": {"Attempts": attempts},
    });
    if let Some(t) = timeout {
        j["Timeout"] = json!({"AttemptDurationSeconds": t});
    }
    j
}

fn alive(pid: i32) -> bool {
    // A zombie counts as gone.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

async fn wait_for_file(p: &Path) -> String {
    for _ in 0..200 {
        if let Ok(s) = std::fs::read_to_string(p)
            && s.ends_with('\n')
        {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{} never appeared", p.display());
}

#[tokio::test]
async fn retries_with_the_same_job_id_and_passes_batch_env() {
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("seen");
    let script = r#"echo "$AWS_BATCH_JOB_ID $AWS_BATCH_JOB_ATTEMPT $GREETING" >> "$OUT"; echo to-stdout; echo to-stderr >&2; [ "$AWS_BATCH_JOB_ATTEMPT" -ge 2 ]"#;
    let r = runner(home.path(), 2);
    let res = r
        .run(&job(
            script,
            &[
                ("OUT", out.to_str().unwrap()),
                ("GREETING", "h$llo `x` café"),
            ],
            3,
            None,
        ))
        .await
        .unwrap()
        .expect("second attempt succeeds");
    assert_eq!(res["Status"], "SUCCEEDED");
    assert_eq!(res["Parameters"]["metaflow.run_id"], "exec-1");
    assert_eq!(res["Attempts"].as_array().unwrap().len(), 2);
    let job_id = res["JobId"].as_str().unwrap().to_string();
    let seen = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = seen.lines().collect();
    assert_eq!(
        lines,
        vec![
            format!("{job_id} 1 h$llo `x` café"),
            format!("{job_id} 2 h$llo `x` café")
        ]
    );
    // Per-execution log files, one pair per attempt.
    let (o, e) = r.log_paths(Some("exec-1"), "step", &job_id, 2);
    assert_eq!(std::fs::read_to_string(o).unwrap(), "to-stdout\n");
    assert_eq!(std::fs::read_to_string(e).unwrap(), "to-stderr\n");
    // Work dirs are cleaned up.
    assert_eq!(
        std::fs::read_dir(home.path().join("work")).unwrap().count(),
        0
    );
}

#[tokio::test]
async fn a_job_failing_every_attempt_is_failed_with_its_exit_code() {
    let home = tempfile::tempdir().unwrap();
    let r = runner(home.path(), 2);
    let failed = r
        .run(&job("exit 3", &[], 2, None))
        .await
        .unwrap()
        .expect_err("fails");
    assert_eq!(failed.description["Status"], "FAILED");
    assert_eq!(failed.description["Attempts"].as_array().unwrap().len(), 2);
    assert_eq!(failed.description["Container"]["ExitCode"], 3);
}

#[tokio::test]
async fn attempt_timeout_kills_the_process() {
    let home = tempfile::tempdir().unwrap();
    let pidfile = home.path().join("pid");
    let r = runner(home.path(), 2);
    let script = r#"echo $$ > "$PIDFILE"; exec sleep 60"#;
    let failed = r
        .run(&job(
            script,
            &[("PIDFILE", pidfile.to_str().unwrap())],
            1,
            Some(1),
        ))
        .await
        .unwrap()
        .expect_err("times out");
    assert!(failed.reason.contains("timeout"), "{}", failed.reason);
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(!alive(pid));
}

#[tokio::test]
async fn terminate_execution_kills_the_whole_process_group() {
    let home = tempfile::tempdir().unwrap();
    let pids = home.path().join("pids");
    let r = runner(home.path(), 2);
    // The job starts a grandchild that ignores nothing special, then waits.
    let script = r#"sleep 300 & echo "$$ $!" > "$PIDS"; wait"#;
    let spec = job(
        script,
        &[
            ("PIDS", pids.to_str().unwrap()),
            ("FERRY_RUN_ID", "exec-term"),
        ],
        3,
        None,
    );
    let r2 = r.clone();
    let handle = tokio::spawn(async move { r2.run(&spec).await });
    let line = wait_for_file(&pids).await;
    let ids: Vec<i32> = line
        .split_whitespace()
        .map(|s| s.parse().unwrap())
        .collect();
    assert!(ids.iter().all(|p| alive(*p)));
    assert_eq!(r.terminate_execution("other-exec", "nope"), 0);
    assert_eq!(
        r.terminate_execution("exec-term", "Execution stopped by the user"),
        1
    );
    let failed = tokio::time::timeout(Duration::from_secs(20), handle)
        .await
        .unwrap()
        .unwrap()
        .unwrap()
        .expect_err("terminated");
    assert_eq!(failed.reason, "Execution stopped by the user");
    // Terminated jobs are not retried.
    assert_eq!(failed.description["Attempts"].as_array().unwrap().len(), 1);
    for _ in 0..100 {
        if ids.iter().all(|p| !alive(*p)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ids.iter().all(|p| !alive(*p)), "processes left: {ids:?}");
}

#[tokio::test]
async fn dropping_the_job_future_kills_its_processes() {
    let home = tempfile::tempdir().unwrap();
    let pids = home.path().join("pids");
    let r = runner(home.path(), 2);
    let spec = job(
        r#"sleep 300 & echo "$$ $!" > "$PIDS"; wait"#,
        &[("PIDS", pids.to_str().unwrap())],
        1,
        None,
    );
    let r2 = r.clone();
    let handle = tokio::spawn(async move { r2.run(&spec).await });
    let line = wait_for_file(&pids).await;
    let ids: Vec<i32> = line
        .split_whitespace()
        .map(|s| s.parse().unwrap())
        .collect();
    handle.abort();
    for _ in 0..100 {
        if ids.iter().all(|p| !alive(*p)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ids.iter().all(|p| !alive(*p)), "processes left: {ids:?}");
    assert_eq!(r.live_jobs(), 0);
}

#[tokio::test]
async fn max_workers_bounds_concurrent_processes() {
    let home = tempfile::tempdir().unwrap();
    let log = home.path().join("log");
    let r = runner(home.path(), 1);
    // Each job appends "start" then "end": with one worker the lines strictly alternate.
    let script = r#"echo start >> "$LOG"; sleep 0.3; echo end >> "$LOG""#;
    let jobs: Vec<_> = (0..3)
        .map(|_| {
            let r = r.clone();
            let spec = job(script, &[("LOG", log.to_str().unwrap())], 1, None);
            tokio::spawn(async move { r.run(&spec).await.unwrap().unwrap() })
        })
        .collect();
    for j in jobs {
        j.await.unwrap();
    }
    let lines = std::fs::read_to_string(&log).unwrap();
    assert_eq!(lines, "start\nend\n".repeat(3));
}

#[tokio::test]
async fn invalid_jobs_are_rejected() {
    let home = tempfile::tempdir().unwrap();
    let r = runner(home.path(), 1);
    assert!(r.run(&json!({"JobName": "x"})).await.is_err());
    assert!(
        r.run(&json!({"ContainerOverrides": {"Command": []}}))
            .await
            .is_err()
    );
    assert!(
        r.run(&json!({"ContainerOverrides": {"Command": ["a", 1]}}))
            .await
            .is_err()
    );
    // A program that does not exist fails the job, not the runner.
    let failed = r
        .run(
            &job("x", &[], 1, None)
                .as_object()
                .cloned()
                .map(|mut o| {
                    o["ContainerOverrides"]["Command"] = json!(["/nonexistent/program"]);
                    Value::Object(o)
                })
                .unwrap(),
        )
        .await
        .unwrap()
        .expect_err("cannot start");
    assert!(
        failed.reason.contains("CannotStartContainerError"),
        "{}",
        failed.reason
    );
}
