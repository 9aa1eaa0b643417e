//! The Batch jobs an execution submitted that the [`super::BatchRunner`] alone cannot express:
//! array jobs (`ArrayProperties.Size`), jobs with `DependsOn`, and jobs submitted without
//! waiting (`batch:submitJob`, no `.sync`). A plain `submitJob.sync` goes straight to the
//! runner and never comes here.
//!
//! Semantics, as AWS Batch documents them (SubmitJob API reference,
//! <https://docs.aws.amazon.com/batch/latest/APIReference/API_SubmitJob.html>; array jobs,
//! <https://docs.aws.amazon.com/batch/latest/userguide/array_jobs.html>; job dependencies,
//! <https://docs.aws.amazon.com/batch/latest/userguide/job_dependencies.html>):
//!
//! - An array job of `Size` `n` is `n` child jobs `<array job id>:<i>`, each a run of the same
//!   request with `AWS_BATCH_JOB_ARRAY_INDEX = i` ([`BatchJob::array_child`]) and its own
//!   `RetryStrategy.Attempts` and attempt timeout. The children are handed to the runner in index
//!   order; the runner's worker bound decides how many run at once.
//! - The array job is `SUCCEEDED` when every child succeeded, `FAILED` when all ended and one
//!   failed; its description carries `ArrayProperties {Size, StatusSummary}`.
//! - `DependsOn [{JobId}]`: every child waits for the whole of that job to succeed;
//!   `[{JobId, Type: N_TO_N}]`: child `i` waits for child `i` of that array job (same size). When a
//!   dependency fails, the dependent job (child) fails without running, status reason
//!   `Dependent Job failed`. A dependency on a job this execution did not submit, or an `N_TO_N`
//!   one on a job of another size, is refused at submission (`Batch.ClientException`).
//! - `submitJob` answers `{JobArn, JobId, JobName}` at once while the job runs; `submitJob.sync`
//!   waits for the end and answers the job's description (failed: `States.TaskFailed` with that
//!   description as the cause, as for a single job). Dropping a `.sync` wait (execution stopped,
//!   state timed out, a sibling failed) terminates the job, as Step Functions does
//!   (`TerminateJob`); so does the end of the execution for jobs still running.
//!
//! Jobs are known by id within their execution only (a Ferry state machine never names another
//! execution's job).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::AbortHandle;

use super::batch::BatchJob;
use super::error::{StatesError, names};
use super::resources::{BatchRunner, TaskContext};

/// Status reason of a job that failed because a job it depends on failed.
pub const DEPENDENT_JOB_FAILED: &str = "Dependent Job failed";

/// How one child (or a single job) ended: its `DescribeJobs` record.
#[derive(Debug, Clone)]
struct Ended {
    succeeded: bool,
    record: Value,
}

/// A submitted job: its request, the end of each child (one entry for a single job), and the
/// tasks running them.
struct Submitted {
    job_id: String,
    job: BatchJob,
    ends: Vec<watch::Receiver<Option<Ended>>>,
    tasks: Mutex<Vec<AbortHandle>>,
}

impl Submitted {
    /// How child `i` ended; a child whose task was terminated before it ended counts as failed.
    async fn child_end(&self, i: usize) -> Ended {
        let mut rx = self.ends[i].clone();
        match rx.wait_for(Option::is_some).await {
            Ok(e) => e.clone().expect("waited for Some"),
            Err(_) => Ended {
                succeeded: false,
                record: json!({"Status": "FAILED", "StatusReason": "Job terminated"}),
            },
        }
    }

    /// Whether the whole job succeeded (every child did), once every child ended.
    async fn succeeded(&self) -> bool {
        let mut ok = true;
        for i in 0..self.ends.len() {
            ok &= self.child_end(i).await.succeeded;
        }
        ok
    }

    /// The job's description once it ended: a single job's own record; for an array job the
    /// parent's, with `ArrayProperties {Size, StatusSummary}`.
    async fn described(&self) -> (bool, Value) {
        let Some(size) = self.job.array_size else {
            let e = self.child_end(0).await;
            return (e.succeeded, e.record);
        };
        let mut succeeded = 0u64;
        for i in 0..self.ends.len() {
            succeeded += u64::from(self.child_end(i).await.succeeded);
        }
        let ok = succeeded == size;
        let status = if ok { "SUCCEEDED" } else { "FAILED" };
        let mut record = self.job.describe(&self.job_id, status, &[]);
        record["ArrayProperties"] = json!({
            "Size": size,
            "StatusSummary": {"SUCCEEDED": succeeded, "FAILED": size - succeeded},
        });
        (ok, record)
    }

    /// Stop every child still running or waiting.
    fn terminate(&self) {
        if let Ok(tasks) = self.tasks.lock() {
            tasks.iter().for_each(AbortHandle::abort);
        }
    }
}

/// The jobs one execution submitted through [`SubmittedJobs::submit`], by job id.
#[derive(Default)]
pub(crate) struct SubmittedJobs {
    jobs: Mutex<HashMap<String, Arc<Submitted>>>,
}

impl std::fmt::Debug for SubmittedJobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.jobs.lock().map(|j| j.len()).unwrap_or(0);
        f.debug_struct("SubmittedJobs").field("jobs", &n).finish()
    }
}

/// Terminates a job when a `.sync` wait for it is dropped before the job ended.
struct TerminateOnDrop(Option<Arc<Submitted>>);

impl Drop for TerminateOnDrop {
    fn drop(&mut self) {
        if let Some(job) = self.0.take() {
            job.terminate();
        }
    }
}

impl SubmittedJobs {
    /// Run `request` of a `batch:submitJob` (`sync` false: answer `{JobArn, JobId, JobName}` at
    /// once) or `batch:submitJob.sync` (wait; answer the description or `States.TaskFailed`).
    ///
    /// # Errors
    /// `Batch.ClientException` for a dependency this execution did not submit or an `N_TO_N`
    /// dependency of another size; `States.TaskFailed` when a waited-for job failed.
    pub async fn submit(
        &self,
        runner: Arc<dyn BatchRunner>,
        job: BatchJob,
        ctx: &TaskContext,
        sync: bool,
    ) -> Result<Value, StatesError> {
        let dependencies = self.dependencies(&job)?;
        let job_id = uuid::Uuid::new_v4().to_string();
        let submitted = self.spawn(runner, job, job_id.clone(), dependencies, ctx);
        if !sync {
            return Ok(json!({
                "JobArn": job_arn(&ctx.execution_id, &job_id),
                "JobId": job_id,
                "JobName": submitted.job.job_name,
            }));
        }
        let mut guard = TerminateOnDrop(Some(submitted.clone()));
        let (ok, record) = submitted.described().await;
        guard.0 = None;
        if ok {
            Ok(record)
        } else {
            Err(StatesError::task_failed(record.to_string()))
        }
    }

    /// Stop every job still running (the execution ended).
    pub fn terminate_all(&self) {
        if let Ok(jobs) = self.jobs.lock() {
            jobs.values().for_each(|j| j.terminate());
        }
    }

    /// The submitted jobs `job` depends on, checked against Batch's rules.
    fn dependencies(&self, job: &BatchJob) -> Result<Vec<(Arc<Submitted>, bool)>, StatesError> {
        let jobs = self
            .jobs
            .lock()
            .map_err(|_| StatesError::runtime("the job table is poisoned"))?;
        job.depends_on
            .iter()
            .map(|d| {
                let dep = jobs.get(&d.job_id).ok_or_else(|| {
                    client_error(format!(
                        "DependsOn names job {}, which this execution has not submitted",
                        d.job_id
                    ))
                })?;
                if d.n_to_n && dep.job.array_size != job.array_size {
                    return Err(client_error(format!(
                        "an N_TO_N dependency needs array jobs of one size: job {} has {}, this \
                         one {}",
                        d.job_id,
                        dep.job.array_size.map_or("none".into(), |s| s.to_string()),
                        job.array_size.map_or("none".into(), |s| s.to_string()),
                    )));
                }
                Ok((dep.clone(), d.n_to_n))
            })
            .collect()
    }

    /// Register job `job_id` and start a task per child (one for a single job).
    fn spawn(
        &self,
        runner: Arc<dyn BatchRunner>,
        job: BatchJob,
        job_id: String,
        dependencies: Vec<(Arc<Submitted>, bool)>,
        ctx: &TaskContext,
    ) -> Arc<Submitted> {
        let children = job.array_size.unwrap_or(1) as usize;
        let (senders, ends): (Vec<_>, Vec<_>) = (0..children).map(|_| watch::channel(None)).unzip();
        let submitted = Arc::new(Submitted {
            job_id: job_id.clone(),
            job,
            ends,
            tasks: Mutex::new(Vec::with_capacity(children)),
        });
        let dependencies = Arc::new(dependencies);
        let mut handles = Vec::with_capacity(children);
        for (i, tx) in senders.into_iter().enumerate() {
            let child = match submitted.job.array_size {
                Some(_) => submitted.job.array_child(&job_id, i as u64),
                None => {
                    let mut single = submitted.job.clone();
                    single.job_id = Some(job_id.clone());
                    single.depends_on = Vec::new();
                    single
                }
            };
            let (runner, deps, ctx) = (runner.clone(), dependencies.clone(), ctx.clone());
            let handle = tokio::spawn(async move {
                let end = run_child(runner, child, i, &deps, &ctx).await;
                tx.send_replace(Some(end));
            });
            handles.push(handle.abort_handle());
        }
        if let Ok(mut tasks) = submitted.tasks.lock() {
            *tasks = handles;
        }
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.insert(job_id, submitted.clone());
        }
        submitted
    }
}

/// Child `i`: wait for its dependencies, then run it (or fail it when one failed).
async fn run_child(
    runner: Arc<dyn BatchRunner>,
    child: BatchJob,
    i: usize,
    dependencies: &[(Arc<Submitted>, bool)],
    ctx: &TaskContext,
) -> Ended {
    let id = child.job_id.clone().unwrap_or_default();
    for (dep, n_to_n) in dependencies {
        let ok = if *n_to_n {
            dep.child_end(i).await.succeeded
        } else {
            dep.succeeded().await
        };
        if !ok {
            let mut record = child.describe(&id, "FAILED", &[]);
            record["StatusReason"] = json!(DEPENDENT_JOB_FAILED);
            return Ended {
                succeeded: false,
                record,
            };
        }
    }
    match runner.run(child.clone(), ctx).await {
        Ok(record) => Ended {
            succeeded: true,
            record,
        },
        Err(e) => {
            // A failed job's description is the cause of `States.TaskFailed`.
            let record = (e.error == names::TASK_FAILED)
                .then(|| serde_json::from_str::<Value>(&e.cause).ok())
                .flatten()
                .filter(Value::is_object)
                .unwrap_or_else(|| {
                    let mut r = child.describe(&id, "FAILED", &[]);
                    r["StatusReason"] = json!(format!("{}: {}", e.error, e.cause));
                    r
                });
            Ended {
                succeeded: false,
                record,
            }
        }
    }
}

fn client_error(message: String) -> StatesError {
    StatesError::new("Batch.ClientException", message)
}

/// `arn:aws:batch:<region>:<account>:job/<job id>`, region and account from the execution ARN
/// (`arn:aws:states:<region>:<account>:execution:…`).
fn job_arn(execution_arn: &str, job_id: &str) -> String {
    let mut parts = execution_arn.split(':').skip(3);
    let region = parts.next().unwrap_or("local");
    let account = parts.next().unwrap_or("000000000000");
    format!("arn:aws:batch:{region}:{account}:job/{job_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_arn_takes_region_and_account_from_the_execution() {
        assert_eq!(
            job_arn("arn:aws:states:local:000000000000:execution:F:run-1", "j"),
            "arn:aws:batch:local:000000000000:job/j"
        );
    }
}
