//! Task logs: the step's stdout and stderr, decorated as mflog lines, appended to local files and
//! uploaded to the datastore where the Metaflow client reads them
//! (`<Flow>/<run>/<step>/<task>/<attempt>.task_stdout.log` and `.task_stderr.log` below the
//! datastore root), periodically while the step runs and completely at the end.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry_store::Blobs;

use crate::error::TaskError;
use crate::transient::with_retries;
use ferry_store::task_logs::mflog::LineDecorator;

/// The output streams and the datastore key of a task's log are owned by the reader's module
/// ([`ferry_store::task_logs`]), so the writer here and `ferry logs` agree on them.
pub use ferry_store::task_logs::{Stream, log_key};

/// Local mflog files of one task attempt and their uploads to the datastore.
pub struct LogSink {
    paths: [PathBuf; 2],
    keys: [String; 2],
    blobs: Arc<dyn Blobs>,
    uploaded: Mutex<[Option<u64>; 2]>,
    upload_lock: tokio::sync::Mutex<()>,
}

impl LogSink {
    /// Logs written below `dir` (created), uploaded to `blobs` (rooted at the datastore root) at
    /// `<task_prefix>/<attempt>.task_{stdout,stderr}.log`.
    pub fn new(
        dir: &Path,
        blobs: Arc<dyn Blobs>,
        task_prefix: &str,
        attempt: u32,
    ) -> Result<Self, TaskError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| TaskError::io(format!("creating {}", dir.display()), e))?;
        let paths = [dir.join("mflog_stdout"), dir.join("mflog_stderr")];
        for p in &paths {
            File::create(p).map_err(|e| TaskError::io(format!("creating {}", p.display()), e))?;
        }
        Ok(LogSink {
            paths,
            keys: [
                log_key(task_prefix, attempt, Stream::Stdout),
                log_key(task_prefix, attempt, Stream::Stderr),
            ],
            blobs,
            uploaded: Mutex::new([None, None]),
            upload_lock: tokio::sync::Mutex::new(()),
        })
    }

    fn index(stream: Stream) -> usize {
        match stream {
            Stream::Stdout => 0,
            Stream::Stderr => 1,
        }
    }

    /// A writer that decorates and appends to `stream`'s file.
    pub fn writer(&self, stream: Stream) -> Result<StreamLog, TaskError> {
        let path = &self.paths[Self::index(stream)];
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| TaskError::io(format!("opening {}", path.display()), e))?;
        Ok(StreamLog {
            file,
            decorator: LineDecorator::default(),
        })
    }

    /// Append a line of the wrapper's own (e.g. its failure reason) to `stream`.
    pub fn note(&self, stream: Stream, line: &str) {
        if let Ok(mut w) = self.writer(stream) {
            w.write(line.as_bytes());
            w.write(b"\n");
        }
    }

    /// Upload the files that changed since the last upload. Failures are reported on stderr and
    /// otherwise ignored (a log upload never fails the task).
    pub async fn flush(&self) {
        let _guard = self.upload_lock.lock().await;
        for i in 0..2 {
            let body = match std::fs::read(&self.paths[i]) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!(
                        "ferry task-wrapper: reading {}: {e}",
                        self.paths[i].display()
                    );
                    continue;
                }
            };
            let len = body.len() as u64;
            let previous = self.uploaded.lock().map(|u| u[i]).unwrap_or(None);
            if previous == Some(len) {
                continue;
            }
            let key = &self.keys[i];
            match with_retries(&format!("uploading log {key}"), || {
                self.blobs.put(key, body.clone())
            })
            .await
            {
                Ok(()) => {
                    if let Ok(mut u) = self.uploaded.lock() {
                        u[i] = Some(len);
                    }
                }
                Err(e) => eprintln!("ferry task-wrapper: uploading log {key}: {e}"),
            }
        }
    }

    /// Flush every `interval` until the returned task is aborted.
    pub fn flush_periodically(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        let sink = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                sink.flush().await;
            }
        })
    }
}

/// Decorating appender for one stream.
pub struct StreamLog {
    file: File,
    decorator: LineDecorator,
}

impl StreamLog {
    /// Append the complete lines of `chunk` (a partial last line waits for its end).
    pub fn write(&mut self, chunk: &[u8]) {
        let out = self.decorator.feed(chunk);
        if !out.is_empty() {
            let _ = self.file.write_all(&out);
        }
    }

    /// Append the unterminated last line, if any.
    pub fn finish(&mut self) {
        let out = self.decorator.finish();
        if !out.is_empty() {
            let _ = self.file.write_all(&out);
        }
    }
}
