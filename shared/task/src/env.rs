//! What changes per execution and per task, read from the environment the executor sets
//! (`docs/runtime-contract.md` §2): job id, attempt, run id, trigger parameters, parent task ids,
//! split indexes.

use std::collections::BTreeMap;

use ferry_spec::task::{
    ENV_FOREACH_INDEX, ENV_JOB_ATTEMPT, ENV_JOB_ID, ENV_METADATA_URL, ENV_PARAMETERS,
    ENV_PARENT_TASK_ID, ENV_RETRY_COUNT, ENV_RUN_ID, ENV_SPLIT_INDEX, ENV_SPLIT_PARENT_TASK_ID,
    ENV_TAIL_SPLIT_PARENT_TASK_ID, env_parent_task_id,
};

use ferry_spec::array_job::{
    ENV_ARRAY_COUNT, ENV_ARRAY_INDEX, ENV_ARRAY_OFFSET, ENV_PARENT_ARRAY_JOB_ID,
    array_child_task_id,
};

use crate::error::TaskError;

/// Where an array-form foreach child sits (`ferry_spec::array_job`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArrayPlace {
    /// `AWS_BATCH_JOB_ARRAY_INDEX`.
    pub index: u64,
    /// `FERRY_ARRAY_OFFSET`: the chunk's first split index.
    pub offset: u64,
    /// `FERRY_ARRAY_COUNT`: real items in the chunk.
    pub count: u64,
}

impl ArrayPlace {
    /// The child's foreach split index: offset + array index.
    pub fn split_index(&self) -> u64 {
        self.offset + self.index
    }

    /// A padding child (index ≥ count): it runs nothing.
    pub fn is_padding(&self) -> bool {
        self.index >= self.count
    }
}

/// The per-task environment of one wrapper invocation.
#[derive(Debug, Clone)]
pub struct TaskEnv {
    /// `AWS_BATCH_JOB_ID`: the Metaflow task id, stable across attempts.
    pub job_id: String,
    /// `AWS_BATCH_JOB_ATTEMPT`: 1-based attempt.
    pub attempt: u32,
    /// `FERRY_RUN_ID`: the execution name (the Metaflow run id is `sfn-<this>`).
    pub execution: String,
    /// Set for a child of an array-form foreach.
    pub array: Option<ArrayPlace>,
    vars: BTreeMap<String, String>,
}

impl TaskEnv {
    /// Read the task environment from `(name, value)` pairs (e.g. `std::env::vars_os()` made
    /// UTF-8). Errors when the job id, attempt or run id is missing or not a safe id.
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Result<Self, TaskError> {
        let vars: BTreeMap<String, String> = vars
            .into_iter()
            .filter(|(k, _)| k.starts_with("FERRY_") || k.starts_with("AWS_BATCH_"))
            .collect();
        let get = |name: &str| {
            vars.get(name)
                .cloned()
                .ok_or_else(|| TaskError::Env(format!("{name} is not set")))
        };
        let mut job_id = get(ENV_JOB_ID)?;
        let array = array_place(&vars)?;
        if let Some(a) = &array {
            // Batch names an array child `<array job id>:<index>`.
            let suffix = format!(":{}", a.index);
            if let Some(parent) = job_id.strip_suffix(&suffix) {
                job_id = array_child_task_id(parent, a.index);
            }
        }
        validate_id(ENV_JOB_ID, &job_id)?;
        let attempt_text = get(ENV_JOB_ATTEMPT)?;
        let attempt: u32 = attempt_text
            .trim()
            .parse()
            .ok()
            .filter(|a| *a >= 1)
            .ok_or_else(|| {
                TaskError::Env(format!(
                    "{ENV_JOB_ATTEMPT} must be an integer >= 1, got {attempt_text:?}"
                ))
            })?;
        let execution = get(ENV_RUN_ID)?;
        validate_id(ENV_RUN_ID, &execution)?;
        Ok(TaskEnv {
            job_id,
            attempt,
            execution,
            array,
            vars,
        })
    }

    /// The current process environment.
    pub fn from_process() -> Result<Self, TaskError> {
        Self::from_vars(
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
        )
    }

    /// Metaflow's retry count: attempt − 1, plus `FERRY_RETRY_COUNT` (0 when unset), which only
    /// state machines compiled before delayed retries moved into the Batch job set
    /// (`docs/runtime-contract.md` §7).
    pub fn retry_count(&self) -> Result<u32, TaskError> {
        let sfn: u32 = match self.vars.get(ENV_RETRY_COUNT) {
            None => 0,
            Some(v) => v.trim().parse().map_err(|_| {
                TaskError::Env(format!(
                    "{ENV_RETRY_COUNT} must be a non-negative integer, got {v:?}"
                ))
            })?,
        };
        sfn.checked_add(self.attempt - 1)
            .ok_or_else(|| TaskError::Env("the retry count overflows".into()))
    }

    /// `FERRY_CLOCK_SPEEDUP`: how many times faster than real time the embedded stack's test
    /// clock runs (1 when unset or not a number > 1).
    pub fn clock_speedup(&self) -> f64 {
        self.vars
            .get(ferry_spec::task::ENV_CLOCK_SPEEDUP)
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|f| f.is_finite() && *f > 1.0)
            .unwrap_or(1.0)
    }

    /// The Metaflow run id, `sfn-<execution>`.
    pub fn run_id(&self) -> String {
        ferry_spec::task::run_id_for_execution(&self.execution)
    }

    /// `FERRY_PARAMETERS`, if set.
    pub fn parameters(&self) -> Option<&str> {
        self.vars.get(ENV_PARAMETERS).map(String::as_str)
    }

    /// `FERRY_METADATA_URL`: the metadata service URL the executor gives the task now (it wins
    /// over the description's), if set and not blank. Errors unless it is an `http://` or
    /// `https://` URL without whitespace or control characters.
    pub fn metadata_url(&self) -> Result<Option<String>, TaskError> {
        let Some(v) = self.vars.get(ENV_METADATA_URL).map(|v| v.trim()) else {
            return Ok(None);
        };
        if v.is_empty() {
            return Ok(None);
        }
        let scheme_ok = ["http://", "https://"]
            .iter()
            .any(|s| v.len() > s.len() && v[..s.len()].eq_ignore_ascii_case(s));
        if !scheme_ok || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(TaskError::Env(format!(
                "{ENV_METADATA_URL} must be an http:// or https:// URL, got {v:?}"
            )));
        }
        Ok(Some(v.to_string()))
    }

    /// `FERRY_PARENT_TASK_ID`, validated; for a later array-form body step, the child of
    /// `FERRY_PARENT_ARRAY_JOB_ID` with this child's index.
    pub fn parent_task_id(&self) -> Result<String, TaskError> {
        if let (false, Some(a), Some(parent)) = (
            self.has(ENV_PARENT_TASK_ID),
            self.array,
            self.vars.get(ENV_PARENT_ARRAY_JOB_ID),
        ) {
            let id = array_child_task_id(parent, a.index);
            validate_id(ENV_PARENT_ARRAY_JOB_ID, &id)?;
            return Ok(id);
        }
        self.required_id(ENV_PARENT_TASK_ID)
    }

    /// `FERRY_PARENT_<i>_TASK_ID`, validated.
    pub fn static_parent_task_id(&self, i: usize) -> Result<String, TaskError> {
        self.required_id(&env_parent_task_id(i))
    }

    /// `FERRY_SPLIT_PARENT_TASK_ID`, validated.
    pub fn split_parent_task_id(&self) -> Result<String, TaskError> {
        self.required_id(ENV_SPLIT_PARENT_TASK_ID)
    }

    /// `FERRY_TAIL_SPLIT_PARENT_TASK_ID` (body tails), validated.
    pub fn tail_split_parent_task_id(&self) -> Result<String, TaskError> {
        self.required_id(ENV_TAIL_SPLIT_PARENT_TASK_ID)
    }

    /// Whether variable `name` is set.
    pub fn has(&self, name: &str) -> bool {
        self.vars.contains_key(name)
    }

    /// `FERRY_SPLIT_INDEX`, if set; for the first body step of an array-form foreach (an
    /// array child without `FERRY_PARENT_ARRAY_JOB_ID`), its array split index.
    pub fn split_index(&self) -> Result<Option<u64>, TaskError> {
        match (self.optional_index(ENV_SPLIT_INDEX)?, self.array) {
            (Some(i), _) => Ok(Some(i)),
            (None, Some(a)) if !self.has(ENV_PARENT_ARRAY_JOB_ID) => Ok(Some(a.split_index())),
            _ => Ok(None),
        }
    }

    /// `FERRY_FOREACH_INDEX`, else an array child's split index; required.
    pub fn foreach_index(&self) -> Result<u64, TaskError> {
        match (self.optional_index(ENV_FOREACH_INDEX)?, self.array) {
            (Some(i), _) => Ok(i),
            (None, Some(a)) => Ok(a.split_index()),
            _ => Err(TaskError::Env(format!("{ENV_FOREACH_INDEX} is not set"))),
        }
    }

    fn required_id(&self, name: &str) -> Result<String, TaskError> {
        let v = self
            .vars
            .get(name)
            .cloned()
            .ok_or_else(|| TaskError::Env(format!("{name} is not set")))?;
        validate_id(name, &v)?;
        Ok(v)
    }

    fn optional_index(&self, name: &str) -> Result<Option<u64>, TaskError> {
        match self.vars.get(name) {
            None => Ok(None),
            Some(v) => v.trim().parse().map(Some).map_err(|_| {
                TaskError::Env(format!("{name} must be a non-negative integer, got {v:?}"))
            }),
        }
    }
}

/// The array place from `AWS_BATCH_JOB_ARRAY_INDEX`, `FERRY_ARRAY_OFFSET` and
/// `FERRY_ARRAY_COUNT`: `None` unless Ferry made the array (the offset is set).
fn array_place(vars: &BTreeMap<String, String>) -> Result<Option<ArrayPlace>, TaskError> {
    let Some(offset) = vars.get(ENV_ARRAY_OFFSET) else {
        return Ok(None);
    };
    let number = |name: &str, v: Option<&String>| -> Result<u64, TaskError> {
        let v = v.ok_or_else(|| {
            TaskError::Env(format!(
                "{name} is not set (an array-form foreach child needs it)"
            ))
        })?;
        v.trim().parse().map_err(|_| {
            TaskError::Env(format!("{name} must be a non-negative integer, got {v:?}"))
        })
    };
    Ok(Some(ArrayPlace {
        index: number(ENV_ARRAY_INDEX, vars.get(ENV_ARRAY_INDEX))?,
        offset: number(ENV_ARRAY_OFFSET, Some(offset))?,
        count: number(ENV_ARRAY_COUNT, vars.get(ENV_ARRAY_COUNT))?,
    }))
}

/// Check that an id (job id, execution name, parent task id) is safe in a Metaflow pathspec, a
/// datastore path, a state table key and an input-paths list: 1 to 256 characters from
/// `[A-Za-z0-9._-]`, not starting with `.`.
pub fn validate_id(what: &str, id: &str) -> Result<(), TaskError> {
    let ok = !id.is_empty()
        && id.len() <= 256
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(TaskError::Env(format!(
            "{what} must be 1-256 characters of [A-Za-z0-9._-] not starting with '.', got {id:?}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Result<TaskEnv, TaskError> {
        TaskEnv::from_vars(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn reads_ids_and_attempt() {
        let e = env(&[
            ("AWS_BATCH_JOB_ID", "j-1"),
            ("AWS_BATCH_JOB_ATTEMPT", "2"),
            ("FERRY_RUN_ID", "r1"),
        ])
        .unwrap();
        assert_eq!(e.retry_count().unwrap(), 1);
        let e = env(&[
            ("AWS_BATCH_JOB_ID", "j"),
            ("AWS_BATCH_JOB_ATTEMPT", "2"),
            ("FERRY_RUN_ID", "r"),
            ("FERRY_RETRY_COUNT", "3"),
        ])
        .unwrap();
        assert_eq!(e.retry_count().unwrap(), 4);
        assert_eq!(e.run_id(), "sfn-r");
        assert!(e.parent_task_id().is_err());
    }

    #[test]
    fn metadata_url_override() {
        let base = [
            ("AWS_BATCH_JOB_ID", "j"),
            ("AWS_BATCH_JOB_ATTEMPT", "1"),
            ("FERRY_RUN_ID", "r"),
        ];
        assert_eq!(env(&base).unwrap().metadata_url().unwrap(), None);
        let with = |url: &str| {
            let mut pairs = base.to_vec();
            pairs.push(("FERRY_METADATA_URL", url));
            env(&pairs).unwrap().metadata_url()
        };
        assert_eq!(
            with(" http://127.0.0.1:9000 ").unwrap().as_deref(),
            Some("http://127.0.0.1:9000")
        );
        assert_eq!(
            with("https://x.example/api").unwrap().as_deref(),
            Some("https://x.example/api")
        );
        assert_eq!(with("").unwrap(), None);
        for bad in [
            "ftp://x",
            "127.0.0.1:9000",
            "http://",
            "http://a b",
            "http://a\nb",
        ] {
            assert!(with(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn array_children_read_their_place_from_the_array_index() {
        let base = [
            ("AWS_BATCH_JOB_ID", "4f2a-77:3"),
            ("AWS_BATCH_JOB_ARRAY_INDEX", "3"),
            ("AWS_BATCH_JOB_ATTEMPT", "1"),
            ("FERRY_RUN_ID", "r"),
            ("FERRY_ARRAY_OFFSET", "10000"),
            ("FERRY_ARRAY_COUNT", "9999"),
        ];
        // The first body step: parent = the foreach task, split index = offset + index.
        let mut first = base.to_vec();
        first.push(("FERRY_PARENT_TASK_ID", "fe-1"));
        let e = env(&first).unwrap();
        assert_eq!(e.job_id, "4f2a-77-3");
        assert_eq!(e.parent_task_id().unwrap(), "fe-1");
        assert_eq!(e.split_index().unwrap(), Some(10_003));
        assert_eq!(e.foreach_index().unwrap(), 10_003);
        assert!(!e.array.unwrap().is_padding());
        // A later body step: the parent is the previous array job's child with this index,
        // and no split index is passed to Metaflow.
        let mut later = base.to_vec();
        later.push(("FERRY_PARENT_ARRAY_JOB_ID", "9c1d"));
        let e = env(&later).unwrap();
        assert_eq!(e.parent_task_id().unwrap(), "9c1d-3");
        assert_eq!(e.split_index().unwrap(), None);
        assert_eq!(e.foreach_index().unwrap(), 10_003);
        // Padding: index 1 of a one-item chunk.
        let pad = [
            ("AWS_BATCH_JOB_ID", "j:1"),
            ("AWS_BATCH_JOB_ARRAY_INDEX", "1"),
            ("AWS_BATCH_JOB_ATTEMPT", "1"),
            ("FERRY_RUN_ID", "r"),
            ("FERRY_ARRAY_OFFSET", "0"),
            ("FERRY_ARRAY_COUNT", "1"),
        ];
        assert!(env(&pad).unwrap().array.unwrap().is_padding());
        // Without Ferry's offset an array index changes nothing (and `:` stays refused).
        let foreign = [
            ("AWS_BATCH_JOB_ID", "j:1"),
            ("AWS_BATCH_JOB_ARRAY_INDEX", "1"),
            ("AWS_BATCH_JOB_ATTEMPT", "1"),
            ("FERRY_RUN_ID", "r"),
        ];
        assert!(env(&foreign).is_err());
        let mut bad = base.to_vec();
        bad[4] = ("FERRY_ARRAY_OFFSET", "x");
        assert!(
            env(&bad)
                .unwrap_err()
                .to_string()
                .contains("FERRY_ARRAY_OFFSET")
        );
        let mut missing = base.to_vec();
        missing.remove(1);
        assert!(
            env(&missing)
                .unwrap_err()
                .to_string()
                .contains("AWS_BATCH_JOB_ARRAY_INDEX")
        );
    }

    #[test]
    fn refuses_unsafe_ids() {
        for bad in ["", "a/b", "..", "a,b", "a:b", ".x", "a b"] {
            assert!(
                env(&[
                    ("AWS_BATCH_JOB_ID", bad),
                    ("AWS_BATCH_JOB_ATTEMPT", "1"),
                    ("FERRY_RUN_ID", "r")
                ])
                .is_err(),
                "{bad}"
            );
        }
        assert!(
            env(&[
                ("AWS_BATCH_JOB_ID", "j"),
                ("AWS_BATCH_JOB_ATTEMPT", "0"),
                ("FERRY_RUN_ID", "r")
            ])
            .is_err()
        );
    }
}
