//! Foreach fan-out state in the state table (`docs/runtime-contract.md` §4): a foreach task
//! records its cardinality, each last step of a foreach body adds itself to the join's parent
//! set, and the foreach join reads that set back ordered by split index.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;

use ferry_store::{Attr, Blobs, Condition, Table};

use crate::command::Invocation;
use crate::error::TaskError;
use crate::inputs::parse_parent_member;
use crate::transient::with_retries;

/// Sort key of the foreach item.
pub const SK_FOREACH: &str = "foreach";
/// `NS` attribute `["0",…,"N-1"]` read by the state machine's `getItem` state.
pub const ATTR_CARDINALITY: &str = "for_each_cardinality";
/// `SS` attribute of `"<split index>:<task id>"` members.
pub const ATTR_PARENTS: &str = "parent_task_ids_for_foreach_join";
/// `N` attribute, epoch seconds (DynamoDB TTL).
pub const ATTR_TTL: &str = "ttl";

/// The split indexes `["0",…,"N-1"]` of a foreach with `n` splits.
pub fn split_indexes(n: u64) -> Vec<String> {
    (0..n).map(|i| i.to_string()).collect()
}

/// Largest cardinality also written as the `NS` attribute when the item list goes to a blob
/// (a distributed Map reads the blob; a 100,000-member `NS` would not fit a 400 KB item).
pub const MAX_NS_WITH_ITEMS_OBJECT: u64 = 10_000;
/// `N` attribute: the number of splits (lets the join check completeness without the `NS`).
pub const ATTR_COUNT: &str = "for_each_count";

/// Record the cardinality of foreach task `task_id` (`n` ≥ 1 splits), expiring after `ttl_seconds`;
/// also write `foreach/<task id>.json` to `blobs` when given (a distributed Map's item list), in
/// which case the `NS` attribute is written only up to [`MAX_NS_WITH_ITEMS_OBJECT`] splits.
pub async fn record_cardinality(
    table: &dyn Table,
    blobs: Option<&dyn Blobs>,
    task_id: &str,
    n: u64,
    ttl_seconds: u64,
) -> Result<(), TaskError> {
    if n == 0 {
        return Err(TaskError::Store(
            "a foreach with 0 splits cannot be fanned out".into(),
        ));
    }
    let indexes = split_indexes(n);
    if let Some(blobs) = blobs {
        let key = format!("foreach/{task_id}.json");
        let body = serde_json::to_vec(&indexes).map_err(|e| TaskError::Store(e.to_string()))?;
        with_retries(&format!("writing {key}"), || blobs.put(&key, body.clone()))
            .await
            .map_err(|e| TaskError::Store(e.to_string()))?;
    }
    let now = chrono::Utc::now().timestamp();
    let ttl = now.saturating_add(i64::try_from(ttl_seconds).unwrap_or(i64::MAX / 2));
    let mut attrs = BTreeMap::from([
        (ATTR_TTL.to_string(), Attr::N(ttl)),
        (
            ATTR_COUNT.to_string(),
            Attr::N(i64::try_from(n).unwrap_or(i64::MAX)),
        ),
    ]);
    // The array form's chunk list (⌈n / 10,000⌉ entries; read with States.StringToJson).
    let chunks = serde_json::to_string(&ferry_spec::array_job::array_chunks(n))
        .map_err(|e| TaskError::Store(e.to_string()))?;
    attrs.insert(
        ferry_spec::array_job::ATTR_CHUNKS.to_string(),
        Attr::S(chunks),
    );
    if blobs.is_none() || n <= MAX_NS_WITH_ITEMS_OBJECT {
        attrs.insert(ATTR_CARDINALITY.to_string(), Attr::Ns(indexes));
    }
    with_retries("recording the foreach cardinality", || {
        table.set(task_id, SK_FOREACH, attrs.clone(), Condition::None)
    })
    .await
    .map_err(|e| TaskError::Store(e.to_string()))
}

/// Add `"<index>:<task id>"` to the parent set of foreach `split_parent` (idempotent).
pub async fn add_join_parent(
    table: &dyn Table,
    split_parent: &str,
    index: u64,
    task_id: &str,
) -> Result<(), TaskError> {
    let member = vec![format!("{index}:{task_id}")];
    with_retries("adding to the foreach join's parent set", || {
        table.add_to_set(split_parent, SK_FOREACH, ATTR_PARENTS, &member)
    })
    .await
    .map_err(|e| TaskError::Store(e.to_string()))
}

/// The task ids of the join parents recorded under `split_parent` (body tails of a foreach, or
/// branch tails of a wide static split), ordered by index. With `expected` (or else a recorded
/// count or cardinality), every index `0..N` must be present exactly once.
pub async fn join_parents(
    table: &dyn Table,
    split_parent: &str,
    expected: Option<u64>,
) -> Result<Vec<String>, TaskError> {
    let item = with_retries("reading the foreach join's parent set", || {
        table.get(split_parent, SK_FOREACH)
    })
    .await
    .map_err(|e| TaskError::Store(e.to_string()))?
    .ok_or_else(|| {
        TaskError::Inputs(format!("no foreach state for split parent {split_parent}"))
    })?;
    let members = match item.attrs.get(ATTR_PARENTS) {
        Some(Attr::Ss(m)) => m.clone(),
        None => Vec::new(),
        Some(other) => {
            return Err(TaskError::Inputs(format!(
                "{ATTR_PARENTS} is not a string set: {other:?}"
            )));
        }
    };
    let mut by_index: BTreeMap<u64, String> = BTreeMap::new();
    for m in &members {
        let (idx, id) = parse_parent_member(m)?;
        if let Some(prev) = by_index.insert(idx, id.clone())
            && prev != id
        {
            return Err(TaskError::Inputs(format!(
                "split index {idx} has two tasks: {prev} and {id}"
            )));
        }
    }
    let expected = match (
        expected,
        item.attrs.get(ATTR_COUNT),
        item.attrs.get(ATTR_CARDINALITY),
    ) {
        (Some(n), _, _) => Some(n),
        (_, Some(Attr::N(n)), _) => u64::try_from(*n).ok(),
        (_, _, Some(Attr::Ns(card))) => Some(card.len() as u64),
        _ => None,
    };
    if let Some(n) = expected {
        let missing: Vec<u64> = (0..n)
            .filter(|i| !by_index.contains_key(i))
            .take(5)
            .collect();
        if !missing.is_empty() || by_index.len() as u64 != n {
            return Err(TaskError::Inputs(format!(
                "the parent set of {split_parent} has {} of {n} splits (missing e.g. {missing:?})",
                by_index.len()
            )));
        }
    }
    if by_index.is_empty() {
        return Err(TaskError::Inputs(format!(
            "the parent set of {split_parent} is empty"
        )));
    }
    Ok(by_index.into_values().collect())
}

/// The Python that reads `_foreach_num_splits` of a finished task straight from the datastore
/// with Metaflow's own datastore classes (no metadata service needed). argv: flow, datastore
/// type, datastore root, run id, step, task id, attempt. Prints the number.
const READ_SPLITS_PY: &str = r#"
import sys
from metaflow.datastore import FlowDataStore
from metaflow.plugins import DATASTORES
flow, ds_type, ds_root, run_id, step, task_id, attempt = sys.argv[1:8]
impl = [d for d in DATASTORES if d.TYPE == ds_type][0]
fds = FlowDataStore(flow, None, storage_impl=impl, ds_root=ds_root)
tds = fds.get_task_datastore(run_id, step, task_id, attempt=int(attempt), mode="r")
print(int(tds["_foreach_num_splits"]))
"#;

/// Arguments of [`read_num_splits`].
pub struct SplitsQuery<'a> {
    pub python: &'a str,
    pub flow: &'a str,
    pub datastore_kind: &'a str,
    pub datastore_root: &'a str,
    pub run_id: &'a str,
    pub step: &'a str,
    pub task_id: &'a str,
    pub attempt: u32,
}

/// Read the number of splits a foreach task wrote, running `python -c` with the step's
/// environment (`env`, same credentials and `PYTHONPATH`) in `cwd`.
pub async fn read_num_splits(
    q: &SplitsQuery<'_>,
    env: &[(String, String)],
    cwd: &Path,
) -> Result<u64, TaskError> {
    let inv = Invocation {
        program: q.python.into(),
        args: vec![
            "-c".into(),
            READ_SPLITS_PY.into(),
            q.flow.into(),
            q.datastore_kind.into(),
            q.datastore_root.into(),
            q.run_id.into(),
            q.step.into(),
            q.task_id.into(),
            q.attempt.to_string().into(),
        ],
        env: env.to_vec(),
        cwd: cwd.to_path_buf(),
    };
    let out = tokio::process::Command::new(&inv.program)
        .args(&inv.args)
        .envs(inv.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&inv.cwd)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| TaskError::io(format!("running {}", q.python), e))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        return Err(TaskError::Store(format!(
            "reading _foreach_num_splits failed: {last}"
        )));
    }
    text.trim().parse().map_err(|_| {
        TaskError::Store(format!(
            "_foreach_num_splits is not a count: {:?}",
            text.trim()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_spec::array_job::{ATTR_CHUNKS, ArrayChunk};
    use ferry_store::SqliteTable;

    #[tokio::test]
    async fn the_cardinality_comes_with_the_array_chunk_list() {
        let dir = tempfile::tempdir().unwrap();
        let table = SqliteTable::open(dir.path().join("state.sqlite"), "state").unwrap();
        record_cardinality(&table, None, "fe-1", 25_000, 3600)
            .await
            .unwrap();
        let item = table.get("fe-1", SK_FOREACH).await.unwrap().unwrap();
        let Some(Attr::S(text)) = item.attrs.get(ATTR_CHUNKS) else {
            panic!("no {ATTR_CHUNKS}: {item:?}");
        };
        let chunks: Vec<ArrayChunk> = serde_json::from_str(text).unwrap();
        let sizes: Vec<u64> = chunks.iter().map(|c| c.size).collect();
        assert_eq!(sizes, [8_334, 8_333, 8_333]);
        assert_eq!(chunks[2].offset, "16667");
    }
}
