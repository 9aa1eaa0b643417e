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

/// A job whose Python allocates (and touches) `alloc_mib` MiB and asks for `memory` MiB.
fn allocating_job(alloc_mib: u64, memory: Option<u64>) -> Value {
    let script = format!(
        "python3 -c 'x = bytearray({alloc_mib} << 20); print(\"allocated\", len(x) >> 20)'"
    );
    let mut j = job(&script, &[], 1, None);
    if let Some(m) = memory {
        j["ContainerOverrides"]["ResourceRequirements"] =
            json!([{"Type": "VCPU", "Value": "1"}, {"Type": "MEMORY", "Value": m.to_string()}]);
    }
    j
}

/// More than a job asking for `memory` MiB may map under RLIMIT_DATA on this machine.
fn past_the_limit(memory: u64) -> u64 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    memory + ferry_local::memory::data_headroom_mib(cores) + 256
}

#[tokio::test]
async fn a_job_using_more_memory_than_it_asked_for_fails_as_out_of_memory() {
    let home = tempfile::tempdir().unwrap();
    let r = runner(home.path(), 2);
    let failed = r
        .run(&allocating_job(past_the_limit(64), Some(64)))
        .await
        .unwrap()
        .expect_err("the allocation fails under the job's memory");
    let d = &failed.description;
    assert_eq!(d["Status"], "FAILED");
    assert!(
        failed.reason.starts_with("OutOfMemoryError:"),
        "{}",
        failed.reason
    );
    assert!(
        failed.reason.contains("asked for 64 MiB"),
        "{}",
        failed.reason
    );
    assert_eq!(d["StatusReason"], json!(failed.reason));
    assert_eq!(
        d["Attempts"][0]["Container"]["Reason"],
        json!(failed.reason)
    );
    assert_eq!(d["Container"]["ExitCode"], 1);
    // What the job asked for, as DescribeJobs reports it.
    assert_eq!(
        d["Container"]["ResourceRequirements"],
        json!([{"Type": "VCPU", "Value": "1"}, {"Type": "MEMORY", "Value": "64"}])
    );

    // The same allocation fits when the job asks for enough; without a MEMORY requirement a
    // job gets the job definition's 4,096 MiB.
    let fits = past_the_limit(64);
    let ok = r
        .run(&allocating_job(fits, Some(fits + 64)))
        .await
        .unwrap()
        .expect("fits in the memory asked for");
    assert_eq!(ok["Status"], "SUCCEEDED");
    let ok = r
        .run(&allocating_job(fits, None))
        .await
        .unwrap()
        .expect("fits in the default memory");
    assert_eq!(
        ok["Container"]["ResourceRequirements"],
        json!([{"Type": "MEMORY", "Value": "4096"}])
    );
}

#[tokio::test]
async fn a_plain_failure_is_not_called_out_of_memory() {
    let home = tempfile::tempdir().unwrap();
    let r = runner(home.path(), 1);
    let failed = r
        .run(&job(
            "echo 'ValueError: bad input' >&2; exit 1",
            &[],
            1,
            None,
        ))
        .await
        .unwrap()
        .expect_err("fails");
    assert_eq!(failed.reason, "Essential container in task exited");
}

#[tokio::test]
async fn unenforced_memory_is_said_in_the_jobs_stderr() {
    let home = tempfile::tempdir().unwrap();
    let mut cfg = RunnerConfig::under(home.path());
    cfg.memory_limits =
        ferry_local::memory::MemoryLimits::detect(ferry_local::memory::MemoryLimitMode::Off)
            .unwrap();
    let r = ProcessRunner::new(cfg);
    let ok = r
        .run(&allocating_job(past_the_limit(64), Some(64)))
        .await
        .unwrap()
        .expect("nothing holds the job to its memory");
    let job_id = ok["JobId"].as_str().unwrap();
    let (_, err) = r.log_paths(Some("exec-1"), "step", job_id, 1);
    let err = std::fs::read_to_string(err).unwrap();
    assert!(
        err.starts_with("ferry: warning: this job asked for 64 MiB of memory, which is not enforced on this machine (turned off with --memory-limits off"),
        "{err}"
    );
}

#[tokio::test]
async fn bad_resource_requirements_are_rejected() {
    let home = tempfile::tempdir().unwrap();
    let r = runner(home.path(), 1);
    for bad in [
        json!([{"Type": "MEMORY", "Value": "lots"}]),
        json!([{"Type": "MEMORY", "Value": "0"}]),
        json!([{"Value": "1"}]),
        json!({"Type": "MEMORY"}),
    ] {
        let mut j = job("true", &[], 1, None);
        j["ContainerOverrides"]["ResourceRequirements"] = bad.clone();
        let e = r.run(&j).await.expect_err("invalid");
        assert!(
            e.to_string().contains("ResourceRequirements") || e.to_string().contains("MEMORY"),
            "{bad}: {e}"
        );
    }
}
