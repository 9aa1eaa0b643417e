//! A foreach task's split count read straight from Metaflow's datastore, without starting Python.
//!
//! Metaflow's task datastore keeps `<flow>/<run>/<step>/<task>/<attempt>.data.json`, whose
//! `objects` maps artifact names to content keys and whose `info` gives each artifact's
//! `encoding` (`pickle-v2`, `pickle-v4`); the content lives at `<flow>/data/<key[:2]>/<key>`,
//! gzip-compressed unless its `_meta` sidecar file says `cas_raw` (S3 keeps that in object
//! metadata, so a blob is taken as gzip when it starts with the gzip magic). The split count
//! `_foreach_num_splits` is a pickled `int`.
//!
//! [`read_num_splits`] understands exactly that and answers `None` for anything else (another
//! encoding, a pickle that is not a plain int, a missing file), in which case the caller falls
//! back to Metaflow's own datastore classes ([`crate::fanout::read_num_splits`]).

use std::io::Read;

use ferry_store::Blobs;

/// The artifact holding the number of splits of a foreach task.
pub const NUM_SPLITS_ARTIFACT: &str = "_foreach_num_splits";

/// Where Metaflow's task datastore is, relative to the datastore root.
pub struct TaskPath<'a> {
    pub flow: &'a str,
    pub run_id: &'a str,
    pub step: &'a str,
    pub task_id: &'a str,
    pub attempt: u32,
}

/// `_foreach_num_splits` of the task at `task` in the datastore `blobs` (rooted at the datastore
/// root: `<root>/.metaflow` for the local datastore), or `None` when it cannot be read this way.
pub async fn read_num_splits(blobs: &dyn Blobs, task: &TaskPath<'_>) -> Option<u64> {
    let data_key = format!(
        "{}/{}/{}/{}/{}.data.json",
        task.flow, task.run_id, task.step, task.task_id, task.attempt
    );
    let data: serde_json::Value =
        serde_json::from_slice(&blobs.get(&data_key).await.ok()??).ok()?;
    let key = data.get("objects")?.get(NUM_SPLITS_ARTIFACT)?.as_str()?;
    let encoding = data
        .get("info")
        .and_then(|i| i.get(NUM_SPLITS_ARTIFACT))
        .and_then(|i| i.get("encoding"))
        .and_then(|e| e.as_str())?;
    if !encoding.starts_with("pickle-v") {
        return None;
    }
    if key.len() < 40 || key.len() > 128 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let blob_key = format!("{}/data/{}/{key}", task.flow, &key[..2]);
    let stored = blobs.get(&blob_key).await.ok()??;
    let raw = match blobs.get(&format!("{blob_key}_meta")).await.ok().flatten() {
        Some(meta) => {
            let meta: serde_json::Value = serde_json::from_slice(&meta).ok()?;
            if meta.get("cas_raw").and_then(|v| v.as_bool()) == Some(true) {
                stored
            } else if meta.get("cas_version").and_then(|v| v.as_i64()) == Some(1) {
                gunzip(&stored)?
            } else {
                return None;
            }
        }
        None if stored.starts_with(&[0x1f, 0x8b]) => gunzip(&stored)?,
        None => stored,
    };
    let n = unpickle_int(&raw)?;
    u64::try_from(n).ok()
}

/// Decompress a gzip stream, refusing more than 1 MiB (a pickled int is a few bytes).
fn gunzip(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(1 << 20)
        .read_to_end(&mut out)
        .ok()?;
    Some(out)
}

/// The value of a pickle that holds exactly one Python `int` (protocols 0-5: `PROTO`, an
/// optional `FRAME`, then `BININT1`/`BININT2`/`BININT`/`LONG1`/`INT`, then `STOP`); `None` for
/// any other pickle.
pub fn unpickle_int(p: &[u8]) -> Option<i128> {
    let mut i = 0;
    if p.first() == Some(&0x80) {
        i = 2; // PROTO n
    }
    if p.get(i) == Some(&0x95) {
        i += 9; // FRAME <u64 length>
    }
    let op = *p.get(i)?;
    i += 1;
    let (value, next) = match op {
        b'K' => (i128::from(*p.get(i)?), i + 1),
        b'M' => (
            i128::from(u16::from_le_bytes(p.get(i..i + 2)?.try_into().ok()?)),
            i + 2,
        ),
        b'J' => (
            i128::from(i32::from_le_bytes(p.get(i..i + 4)?.try_into().ok()?)),
            i + 4,
        ),
        0x8a => {
            let n = usize::from(*p.get(i)?);
            let bytes = p.get(i + 1..i + 1 + n)?;
            if n > 15 {
                return None;
            }
            let mut v: i128 = 0;
            for (k, b) in bytes.iter().enumerate() {
                v |= i128::from(*b) << (8 * k);
            }
            if n > 0 && bytes[n - 1] & 0x80 != 0 {
                v -= 1i128 << (8 * n);
            }
            (v, i + 1 + n)
        }
        b'I' => {
            let end = i + p.get(i..)?.iter().position(|b| *b == b'\n')?;
            let text = std::str::from_utf8(&p[i..end]).ok()?;
            (text.parse().ok()?, end + 1)
        }
        _ => return None,
    };
    (p.get(next..)? == b".").then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pickled_ints() {
        // What CPython's pickle.dumps(n, protocol) writes (protocol 4 frames 4+ bytes).
        assert_eq!(unpickle_int(b"\x80\x04K\x04."), Some(4));
        assert_eq!(
            unpickle_int(b"\x80\x04\x95\x04\x00\x00\x00\x00\x00\x00\x00M\xe8\x03."),
            Some(1000)
        );
        assert_eq!(
            unpickle_int(b"\x80\x04\x95\x06\x00\x00\x00\x00\x00\x00\x00J\xa0\x86\x01\x00."),
            Some(100_000)
        );
        assert_eq!(
            unpickle_int(b"\x80\x04\x95\x08\x00\x00\x00\x00\x00\x00\x00\x8a\x05\x00\xe4\x0bT\x02."),
            Some(10_000_000_000)
        );
        assert_eq!(
            unpickle_int(b"\x80\x04\x95\x06\x00\x00\x00\x00\x00\x00\x00J\xff\xff\xff\xff."),
            Some(-1)
        );
        assert_eq!(unpickle_int(b"\x80\x04\x8a\x01\xff."), Some(-1));
        assert_eq!(unpickle_int(b"\x80\x02K\x07."), Some(7));
        assert_eq!(unpickle_int(b"I12\n."), Some(12));
        assert_eq!(unpickle_int(b"\x80\x05K\t."), Some(9));
    }

    #[test]
    fn anything_else_is_not_an_int() {
        assert_eq!(unpickle_int(b""), None);
        assert_eq!(unpickle_int(b"\x80\x04K\x04"), None); // no STOP
        assert_eq!(unpickle_int(b"\x80\x04K\x04.x"), None); // trailing bytes
        assert_eq!(unpickle_int(b"\x80\x04\x88."), None); // True
        assert_eq!(
            unpickle_int(b"\x80\x04G@\x00\x00\x00\x00\x00\x00\x00."),
            None
        ); // 2.0
        assert_eq!(
            unpickle_int(b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00\x8c\x05numpy."),
            None
        );
    }
}
