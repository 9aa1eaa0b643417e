//! The Batch job of a `batch:submitJob(.sync)` Task state, from the state's resolved `Parameters`
//! (AWS Batch `SubmitJob` in PascalCase, as Step Functions takes it) to the `DescribeJobs`
//! record Step Functions hands back: [`BatchJob`] is parsed once here and is what every
//! [`super::BatchRunner`] (the embedded stack's process runner, test stand-ins) receives.
//!
//! Accepted `Parameters` (the subset of `SubmitJob` Ferry's compiler emits; see
//! `docs/runtime-contract.md`):
//!
//! | field | rule |
//! |---|---|
//! | `JobName`, `JobQueue`, `JobDefinition` | required strings |
//! | `Parameters` | object (absent: empty), echoed back as given |
//! | `ContainerOverrides.Command` | required, a non-empty array of strings (the argv) |
//! | `ContainerOverrides.Environment` | array of `{Name, Value}`; a name is non-empty, without `=` or NUL; a `Value` is required, `null` is `""`, other non-strings are JSON text (no NUL) |
//! | `ContainerOverrides.ResourceRequirements` | array of `{Type, Value}`, `Value` a string or number; `MEMORY` a positive number of MiB |
//! | `RetryStrategy.Attempts` | 1..=10 ([`MAX_ATTEMPTS`]), default 1 |
//! | `Timeout.AttemptDurationSeconds` | a whole number of seconds; 0 means no limit |
//! | `ArrayProperties.Size` | absent (a single job) or 2..=10,000 ([`MIN_ARRAY_SIZE`]..=[`MAX_ARRAY_SIZE`]): an array job of that many children |
//! | `DependsOn` | at most 20 ([`MAX_DEPENDENCIES`]) `{JobId, Type}`; `Type` absent (wait for the whole job) or `N_TO_N` (child `i` waits for child `i`; both array jobs); `SEQUENTIAL` is refused |
//!
//! The limits are the AWS Batch `SubmitJob` API reference's
//! (<https://docs.aws.amazon.com/batch/latest/APIReference/API_SubmitJob.html>: `arrayProperties`
//! "between 2 and 10,000", `dependsOn` "up to 20 jobs"; array jobs and `N_TO_N`:
//! <https://docs.aws.amazon.com/batch/latest/userguide/array_jobs.html>,
//! <https://docs.aws.amazon.com/batch/latest/userguide/job_dependencies.html>).

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::error::StatesError;
pub use ferry_spec::array_job::{MAX_ARRAY_SIZE, MIN_ARRAY_SIZE};

/// Largest `RetryStrategy.Attempts` AWS Batch accepts.
pub const MAX_ATTEMPTS: u32 = 10;

/// Most `DependsOn` entries one `SubmitJob` may carry (AWS Batch: "up to 20 jobs").
pub const MAX_DEPENDENCIES: usize = 20;

/// One `DependsOn` entry of a `SubmitJob` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobDependency {
    /// The job waited for (`JobId`).
    pub job_id: String,
    /// `Type: N_TO_N`: child `i` of this array job waits for child `i` of that one; otherwise
    /// the job (every child) waits for the whole of that job.
    pub n_to_n: bool,
}

/// A `SubmitJob` request that breaks a rule of the table in the module docs; the message says
/// which field and what it must be. Step Functions reports it as `Batch.ClientException`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid SubmitJob parameters: {0}")]
pub struct InvalidJob(pub String);

impl From<InvalidJob> for StatesError {
    fn from(e: InvalidJob) -> Self {
        StatesError::new("Batch.ClientException", e.0)
    }
}

/// A `batch:submitJob.sync` request, resolved from the Task's `Parameters`.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchJob {
    /// `JobName`.
    pub job_name: String,
    /// `JobQueue` (echoed only).
    pub job_queue: String,
    /// `JobDefinition` (echoed only).
    pub job_definition: String,
    /// `Parameters`, as given: echoed back in the description (later states read them).
    pub parameters: Map<String, Value>,
    /// `ContainerOverrides.Command`: the argv, never empty.
    pub command: Vec<String>,
    /// `ContainerOverrides.Environment` as `(Name, Value)` in order (later names win).
    pub environment: Vec<(String, String)>,
    /// `ContainerOverrides.ResourceRequirements` as `(Type, Value)`, e.g. `("VCPU", "1")`,
    /// `("MEMORY", "4096")` (MiB).
    pub resource_requirements: Vec<(String, String)>,
    /// `RetryStrategy.Attempts` (1..=10): Batch-level attempts, each with
    /// `AWS_BATCH_JOB_ATTEMPT` = 1, 2, ...
    pub attempts: u32,
    /// `Timeout.AttemptDurationSeconds`: the per-attempt limit as given (0: none).
    pub attempt_duration_seconds: Option<u64>,
    /// `ArrayProperties.Size` (2..=10,000): an array job of that many children; `None` for a
    /// single job.
    pub array_size: Option<u64>,
    /// `DependsOn`, in order.
    pub depends_on: Vec<JobDependency>,
    /// The id Batch gave the job when it was submitted without waiting, or an array child's
    /// `<array job id>:<index>`; `None`: the [`super::BatchRunner`] picks one.
    pub job_id: Option<String>,
}

fn stringify(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl BatchJob {
    /// Read the resolved `Parameters` of a `batch:submitJob.sync` state.
    ///
    /// # Errors
    /// [`InvalidJob`] naming the first field that breaks the rules in the module docs.
    pub fn from_parameters(p: &Value) -> Result<BatchJob, InvalidJob> {
        let bad = |why: &str| InvalidJob(why.to_string());
        let obj = p.as_object().ok_or_else(|| bad("not a JSON object"))?;
        let s = |k: &str| -> Result<String, InvalidJob> {
            obj.get(k)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| InvalidJob(format!("{k} is required (a string)")))
        };
        let overrides = obj
            .get("ContainerOverrides")
            .and_then(Value::as_object)
            .ok_or_else(|| bad("ContainerOverrides is missing"))?;
        let command: Vec<String> = overrides
            .get("Command")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("ContainerOverrides.Command is missing"))?
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(|| bad("ContainerOverrides.Command must be an array of strings"))?;
        if command.is_empty() {
            return Err(bad("ContainerOverrides.Command is empty"));
        }
        let parameters = match obj.get("Parameters") {
            None => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return Err(bad("Parameters must be an object")),
        };
        let attempts = match obj.get("RetryStrategy").and_then(|r| r.get("Attempts")) {
            None => 1,
            Some(a) => a
                .as_u64()
                .filter(|n| (1..=u64::from(MAX_ATTEMPTS)).contains(n))
                .ok_or_else(|| bad("RetryStrategy.Attempts must be 1..10"))?
                as u32,
        };
        let attempt_duration_seconds = obj
            .get("Timeout")
            .and_then(|t| t.get("AttemptDurationSeconds"))
            .map(|a| {
                a.as_u64()
                    .ok_or_else(|| bad("Timeout.AttemptDurationSeconds must be an integer"))
            })
            .transpose()?;
        let array_size = match obj.get("ArrayProperties") {
            None => None,
            Some(a) => Some(
                a.get("Size")
                    .and_then(Value::as_u64)
                    .filter(|n| (MIN_ARRAY_SIZE..=MAX_ARRAY_SIZE).contains(n))
                    .ok_or_else(|| {
                        InvalidJob(format!(
                            "ArrayProperties.Size must be an integer from {MIN_ARRAY_SIZE} to \
                             {MAX_ARRAY_SIZE}, got {}",
                            a.get("Size").map_or("nothing".into(), Value::to_string)
                        ))
                    })?,
            ),
        };
        Ok(BatchJob {
            job_name: s("JobName")?,
            job_queue: s("JobQueue")?,
            job_definition: s("JobDefinition")?,
            parameters,
            command,
            environment: environment(overrides.get("Environment"))?,
            resource_requirements: resource_requirements(overrides.get("ResourceRequirements"))?,
            attempts,
            attempt_duration_seconds,
            depends_on: depends_on(obj.get("DependsOn"), array_size.is_some())?,
            array_size,
            job_id: None,
        })
    }

    /// Child `index` of this array job: the same request as a single job with id
    /// `<array_job_id>:<index>` and `AWS_BATCH_JOB_ARRAY_INDEX` = `index` last in its
    /// environment, as Batch starts each child.
    pub fn array_child(&self, array_job_id: &str, index: u64) -> BatchJob {
        let mut child = self.clone();
        child.array_size = None;
        child.depends_on = Vec::new();
        child.job_id = Some(format!("{array_job_id}:{index}"));
        child.environment.push((
            ferry_spec::array_job::ENV_ARRAY_INDEX.to_string(),
            index.to_string(),
        ));
        child
    }

    /// The per-attempt time limit, if there is one (`AttemptDurationSeconds` above 0).
    pub fn attempt_timeout(&self) -> Option<Duration> {
        self.attempt_duration_seconds
            .filter(|s| *s > 0)
            .map(Duration::from_secs)
    }

    /// `Parameters[name]` as Batch passes it on: a string, other JSON values as their text.
    pub fn parameter(&self, name: &str) -> Option<String> {
        self.parameters.get(name).map(stringify)
    }

    /// The memory the job asks for in MiB (`ResourceRequirements` `MEMORY`; the last one wins,
    /// as later overrides do), if it names one.
    pub fn memory_mib(&self) -> Option<u64> {
        self.resource_requirements
            .iter()
            .rev()
            .find(|(t, _)| t == "MEMORY")
            .and_then(|(_, v)| v.parse().ok())
    }

    /// The execution this job belongs to: `FERRY_RUN_ID`, else the `metaflow.run_id` parameter.
    pub fn execution(&self) -> Option<String> {
        self.environment
            .iter()
            .rev()
            .find(|(k, _)| k == ferry_spec::task::ENV_RUN_ID)
            .map(|(_, v)| v.clone())
            .or_else(|| {
                self.parameters
                    .get("metaflow.run_id")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .filter(|s| !s.is_empty())
    }

    /// The step this job runs: the `step_name` parameter, else the job name.
    pub fn step(&self) -> String {
        self.parameters
            .get("step_name")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| self.job_name.clone())
    }

    /// The `DescribeJobs` record of this job as job `job_id` in `status` (`SUCCEEDED`,
    /// `FAILED`) after `attempts` (Batch `AttemptDetail` objects): `{JobId, JobName, JobQueue,
    /// JobDefinition, Status, Parameters, Attempts, RetryStrategy, Container: {Command,
    /// Environment}}`. A runner that knows more (exit codes, times, memory) adds its fields to
    /// this object; the Parameters echo is what later states read.
    pub fn describe(&self, job_id: &str, status: &str, attempts: &[Value]) -> Value {
        let environment: Vec<Value> = self
            .environment
            .iter()
            .map(|(n, v)| json!({"Name": n, "Value": v}))
            .collect();
        json!({
            "JobId": job_id,
            "JobName": self.job_name,
            "JobQueue": self.job_queue,
            "JobDefinition": self.job_definition,
            "Status": status,
            "Parameters": Value::Object(self.parameters.clone()),
            "Attempts": attempts,
            "RetryStrategy": {"Attempts": self.attempts},
            "Container": {
                "Command": self.command,
                "Environment": environment,
            },
        })
    }
}

/// `DependsOn`: `{JobId, Type}` entries; `N_TO_N` only on an array job.
fn depends_on(entries: Option<&Value>, array: bool) -> Result<Vec<JobDependency>, InvalidJob> {
    let bad = |why: &str| InvalidJob(why.to_string());
    let Some(entries) = entries else {
        return Ok(Vec::new());
    };
    let entries = entries
        .as_array()
        .ok_or_else(|| bad("DependsOn must be an array of {JobId, Type}"))?;
    if entries.len() > MAX_DEPENDENCIES {
        return Err(InvalidJob(format!(
            "DependsOn names {} jobs; a job can depend on at most {MAX_DEPENDENCIES}",
            entries.len()
        )));
    }
    entries
        .iter()
        .map(|d| {
            let n_to_n = match d.get("Type").and_then(Value::as_str) {
                None => false,
                Some("N_TO_N") if array => true,
                Some("N_TO_N") => {
                    return Err(bad(
                        "DependsOn Type N_TO_N needs an array job (ArrayProperties.Size)",
                    ));
                }
                Some("SEQUENTIAL") => {
                    return Err(bad(
                        "DependsOn Type SEQUENTIAL is not supported by the local executor",
                    ));
                }
                Some(other) => {
                    return Err(InvalidJob(format!(
                        "DependsOn Type must be N_TO_N or SEQUENTIAL, got {other:?}"
                    )));
                }
            };
            let job_id = d
                .get("JobId")
                .and_then(Value::as_str)
                .filter(|id| !id.is_empty())
                .ok_or_else(|| bad("DependsOn entry without a JobId"))?;
            Ok(JobDependency {
                job_id: job_id.to_string(),
                n_to_n,
            })
        })
        .collect()
}

/// `ContainerOverrides.Environment`: `{Name, Value}` entries in order.
fn environment(entries: Option<&Value>) -> Result<Vec<(String, String)>, InvalidJob> {
    let bad = |why: &str| InvalidJob(why.to_string());
    let Some(entries) = entries else {
        return Ok(Vec::new());
    };
    let entries = entries
        .as_array()
        .ok_or_else(|| bad("ContainerOverrides.Environment must be an array"))?;
    entries
        .iter()
        .map(|e| {
            let name = e
                .get("Name")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("Environment entry without Name"))?;
            if name.is_empty() || name.contains('=') || name.contains('\0') {
                return Err(bad("Environment entry with an invalid Name"));
            }
            let value = match e.get("Value") {
                None => return Err(bad("Environment entry without Value")),
                Some(Value::Null) => String::new(),
                Some(v) => stringify(v),
            };
            if value.contains('\0') {
                return Err(bad("Environment value contains NUL"));
            }
            Ok((name.to_string(), value))
        })
        .collect()
}

/// `ContainerOverrides.ResourceRequirements`: `{Type, Value}` entries in order.
fn resource_requirements(entries: Option<&Value>) -> Result<Vec<(String, String)>, InvalidJob> {
    let bad = |why: &str| InvalidJob(why.to_string());
    let Some(entries) = entries else {
        return Ok(Vec::new());
    };
    let entries = entries
        .as_array()
        .ok_or_else(|| bad("ContainerOverrides.ResourceRequirements must be an array"))?;
    entries
        .iter()
        .map(|r| {
            let ty = r
                .get("Type")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("ResourceRequirements entry without Type"))?;
            let value = match r.get("Value") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => return Err(bad("ResourceRequirements entry without a Value")),
            };
            if ty == "MEMORY" && !value.parse::<u64>().is_ok_and(|m| m > 0) {
                return Err(bad(
                    "the MEMORY resource requirement must be a positive number of MiB",
                ));
            }
            Ok((ty.to_string(), value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn submit() -> Value {
        json!({
            "JobName": "SFN-F--start--", "JobQueue": "q", "JobDefinition": "d",
            "Parameters": {"metaflow.run_id": "sfn-x", "n": 3},
            "ContainerOverrides": {"Command": ["task-wrapper", "run"],
                "Environment": [{"Name": "A", "Value": "1"}, {"Name": "B", "Value": 2}, {"Name": "C", "Value": null}],
                "ResourceRequirements": [{"Type": "VCPU", "Value": "1"}, {"Type": "MEMORY", "Value": 512}]},
            "RetryStrategy": {"Attempts": 3}, "Timeout": {"AttemptDurationSeconds": 60}
        })
    }

    #[test]
    fn batch_job_from_parameters() {
        let j = BatchJob::from_parameters(&submit()).unwrap();
        assert_eq!(j.parameter("n").as_deref(), Some("3"));
        assert_eq!(
            j.environment,
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "2".into()),
                ("C".into(), "".into())
            ]
        );
        assert_eq!(j.attempts, 3);
        assert_eq!(j.attempt_duration_seconds, Some(60));
        assert_eq!(j.attempt_timeout(), Some(Duration::from_secs(60)));
        assert_eq!(j.memory_mib(), Some(512));
        assert_eq!(j.execution().as_deref(), Some("sfn-x"));
        assert_eq!(j.step(), "SFN-F--start--");
        let d = j.describe("id-1", "SUCCEEDED", &[]);
        assert_eq!(d["Parameters"]["metaflow.run_id"], "sfn-x");
        assert_eq!(d["Parameters"]["n"], 3);
        assert_eq!(d["Container"]["Command"], json!(["task-wrapper", "run"]));
        assert!(BatchJob::from_parameters(&json!({"JobName": "x"})).is_err());
    }

    #[test]
    fn array_properties_and_dependencies() {
        let mut p = submit();
        p["ArrayProperties"] = json!({"Size": 10_000});
        p["DependsOn"] = json!([{"JobId": "a", "Type": "N_TO_N"}, {"JobId": "b"}]);
        let j = BatchJob::from_parameters(&p).unwrap();
        assert_eq!(j.array_size, Some(10_000));
        assert_eq!(
            j.depends_on,
            vec![
                JobDependency {
                    job_id: "a".into(),
                    n_to_n: true
                },
                JobDependency {
                    job_id: "b".into(),
                    n_to_n: false
                },
            ]
        );
        let child = j.array_child("arr", 7);
        assert_eq!(child.job_id.as_deref(), Some("arr:7"));
        assert_eq!((child.array_size, child.depends_on.len()), (None, 0));
        assert_eq!(
            child.environment.last(),
            Some(&("AWS_BATCH_JOB_ARRAY_INDEX".to_string(), "7".to_string()))
        );
        for (field, bad) in [
            ("ArrayProperties", json!({"Size": 1})),
            ("ArrayProperties", json!({"Size": 10_001})),
            ("ArrayProperties", json!({})),
            ("DependsOn", json!([{"Type": "N_TO_N"}])),
            ("DependsOn", json!([{"JobId": "a", "Type": "ONE_TO_ONE"}])),
            (
                "DependsOn",
                json!(
                    (0..21)
                        .map(|i| json!({"JobId": i.to_string()}))
                        .collect::<Vec<_>>()
                ),
            ),
        ] {
            let mut p = submit();
            p["ArrayProperties"] = json!({"Size": 2});
            p[field] = bad.clone();
            let e = BatchJob::from_parameters(&p).expect_err(&bad.to_string());
            assert!(e.0.contains(field), "{bad}: {e}");
        }
        // N_TO_N needs an array job.
        let mut p = submit();
        p["DependsOn"] = json!([{"JobId": "a", "Type": "N_TO_N"}]);
        assert!(
            BatchJob::from_parameters(&p)
                .unwrap_err()
                .0
                .contains("N_TO_N")
        );
    }

    #[test]
    fn each_rule_names_its_field() {
        let cases: [(&str, Value); 9] = [
            ("/JobQueue", Value::Null),
            ("/ContainerOverrides/Command", json!([])),
            ("/ContainerOverrides/Command", json!(["a", 1])),
            (
                "/ContainerOverrides/Environment",
                json!([{"Name": "A=B", "Value": "x"}]),
            ),
            (
                "/ContainerOverrides/ResourceRequirements",
                json!([{"Type": "MEMORY", "Value": "0"}]),
            ),
            (
                "/ContainerOverrides/ResourceRequirements",
                json!([{"Value": "1"}]),
            ),
            ("/RetryStrategy/Attempts", json!(11)),
            ("/Timeout/AttemptDurationSeconds", json!("soon")),
            ("/Parameters", json!([])),
        ];
        for (pointer, bad) in cases {
            let mut p = submit();
            match bad {
                Value::Null => {
                    p.as_object_mut().unwrap().remove("JobQueue");
                }
                bad => *p.pointer_mut(pointer).unwrap() = bad,
            }
            let e = BatchJob::from_parameters(&p).expect_err(pointer);
            let field = pointer.rsplit('/').next().unwrap();
            let message = e.to_string();
            assert!(
                message.contains(field) || message.contains("MEMORY") || message.contains("Name"),
                "{pointer}: {message}"
            );
            assert_eq!(StatesError::from(e).error, "Batch.ClientException");
        }
        let mut zero = submit();
        zero["Timeout"]["AttemptDurationSeconds"] = json!(0);
        assert_eq!(
            BatchJob::from_parameters(&zero).unwrap().attempt_timeout(),
            None
        );
    }
}
