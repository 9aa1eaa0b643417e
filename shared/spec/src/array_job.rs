//! The Batch array-job form of a foreach (`docs/runtime-contract.md` §2, "Array-form
//! foreach"): how a foreach's items are cut into array jobs, and the variables an array child
//! reads its place from.
//!
//! AWS Batch runs an array job of `Size` children, `2 ≤ Size ≤ 10,000`
//! (<https://docs.aws.amazon.com/batch/latest/userguide/array_jobs.html>,
//! <https://docs.aws.amazon.com/batch/latest/userguide/service_limits.html>); each child gets
//! `AWS_BATCH_JOB_ARRAY_INDEX` (`0..Size`) and the job id `<array job id>:<index>`. A foreach
//! of `n` items becomes `⌈n / 10,000⌉` chunks of near-equal size (never 1 when `n ≥ 2`); a
//! foreach of one item becomes one chunk of `Size` 2 whose second child is padding: it sees
//! `index ≥ Count` and exits at once without creating a Metaflow task.

use serde::{Deserialize, Serialize};

/// Batch's largest array size.
pub const MAX_ARRAY_SIZE: u64 = 10_000;
/// Batch's smallest array size.
pub const MIN_ARRAY_SIZE: u64 = 2;
/// Set by Batch on each array child: its index in the array, `0..Size`.
pub const ENV_ARRAY_INDEX: &str = "AWS_BATCH_JOB_ARRAY_INDEX";
/// The split index of the chunk's first child (a decimal string); a child's split index is
/// this plus [`ENV_ARRAY_INDEX`]. Set on every array child.
pub const ENV_ARRAY_OFFSET: &str = "FERRY_ARRAY_OFFSET";
/// The number of real items in the chunk (a decimal string); children with an index at or
/// above it are padding and exit 0 at once.
pub const ENV_ARRAY_COUNT: &str = "FERRY_ARRAY_COUNT";
/// The array job id of the previous body step (second and later steps of an array-form body):
/// the parent task is that job's child with the same index.
pub const ENV_PARENT_ARRAY_JOB_ID: &str = "FERRY_PARENT_ARRAY_JOB_ID";
/// State-table attribute (`S`, JSON text of `[ArrayChunk, …]`) a foreach task writes next to
/// its cardinality; the array form's `getItem` state reads it with `States.StringToJson`.
pub const ATTR_CHUNKS: &str = "for_each_chunks";

/// The `ItemsPath` of an array-form foreach's chunk `Map`: the chunk list the `getItem` state
/// put at `$.Foreach.Chunks`.
pub const CHUNKS_ITEMS_PATH: &str = "$.Foreach.Chunks";

/// One array job of an array-form foreach, as the state machine reads it. `offset` and `count`
/// are decimal strings because they go into container environment values; `size` is a number
/// because it is `ArrayProperties.Size`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ArrayChunk {
    /// The split index of child 0.
    pub offset: String,
    /// The array size: `count`, or 2 for a one-item foreach.
    pub size: u64,
    /// Real items in the chunk (`1..=size`).
    pub count: String,
}

/// The chunks of a foreach of `n` items: none for 0, else `⌈n / 10,000⌉` chunks whose counts
/// differ by at most one and add up to `n`, each of size 2..=10,000.
pub fn array_chunks(n: u64) -> Vec<ArrayChunk> {
    if n == 0 {
        return Vec::new();
    }
    let k = n.div_ceil(MAX_ARRAY_SIZE);
    let (base, extra) = (n / k, n % k);
    let mut offset = 0;
    (0..k)
        .map(|i| {
            let count = base + u64::from(i < extra);
            let chunk = ArrayChunk {
                offset: offset.to_string(),
                size: count.max(MIN_ARRAY_SIZE),
                count: count.to_string(),
            };
            offset += count;
            chunk
        })
        .collect()
}

/// The task id of an array child: Batch's `<array job id>:<index>` with `:` made `-` (a task
/// id is `[A-Za-z0-9._-]`, and `:` separates index and task id in join parent sets).
pub fn array_child_task_id(array_job_id: &str, index: u64) -> String {
    format!("{array_job_id}-{index}")
}

/// The Metaflow task id of Batch job `job_id`: an array child's `<array job id>:<index>` becomes
/// [`array_child_task_id`]; any other job id is the task id as it is.
pub fn task_id_of_job(job_id: &str) -> String {
    match job_id.rsplit_once(':') {
        Some((array, index)) if index.parse::<u64>().is_ok() => format!("{array}-{index}"),
        _ => job_id.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_every_item_once_within_batch_bounds() {
        for n in [
            1, 2, 3, 9_999, 10_000, 10_001, 20_000, 25_000, 100_000, 123_457,
        ] {
            let chunks = array_chunks(n);
            assert_eq!(chunks.len() as u64, n.div_ceil(MAX_ARRAY_SIZE), "n={n}");
            let mut next = 0u64;
            for c in &chunks {
                let count: u64 = c.count.parse().unwrap();
                assert_eq!(c.offset, next.to_string(), "n={n}");
                assert!((MIN_ARRAY_SIZE..=MAX_ARRAY_SIZE).contains(&c.size), "n={n}");
                assert!(count >= 1 && count <= c.size, "n={n}");
                next += count;
            }
            assert_eq!(next, n);
        }
        assert!(array_chunks(0).is_empty());
        let one = array_chunks(1);
        assert_eq!((one[0].size, one[0].count.as_str()), (2, "1"));
        let split: Vec<u64> = array_chunks(25_000).iter().map(|c| c.size).collect();
        assert_eq!(split, vec![8_334, 8_333, 8_333]);
    }

    #[test]
    fn task_ids_of_jobs() {
        assert_eq!(task_id_of_job("abc:7"), array_child_task_id("abc", 7));
        assert_eq!(task_id_of_job("abc"), "abc");
        assert_eq!(task_id_of_job("a:b"), "a:b");
    }

    #[test]
    fn chunks_serialize_as_the_state_machine_reads_them() {
        let v = serde_json::to_value(array_chunks(3)).unwrap();
        assert_eq!(
            v,
            serde_json::json!([{"Offset": "0", "Size": 3, "Count": "3"}])
        );
    }
}
