//! Running one process of the task: no shell, its own process group, stdout and stderr streamed
//! to the console and to the task logs, SIGTERM/SIGINT forwarded to the whole group (SIGKILL
//! after a grace period).

use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::watch;

use crate::command::Invocation;
use crate::error::TaskError;
use crate::logs::{LogSink, Stream, StreamLog};
use crate::params::INIT_ENV_PREFIX;

/// SIGTERM/SIGINT received by the wrapper: the signal number once one arrived.
#[derive(Clone)]
pub struct Shutdown {
    rx: watch::Receiver<Option<i32>>,
}

impl Shutdown {
    /// Start listening for SIGTERM and SIGINT (must run inside a tokio runtime).
    pub fn install() -> Result<Self, TaskError> {
        use tokio::signal::unix::{SignalKind, signal};
        let (tx, rx) = watch::channel(None);
        let mut term = signal(SignalKind::terminate())
            .map_err(|e| TaskError::io("installing the SIGTERM handler", e))?;
        let mut int = signal(SignalKind::interrupt())
            .map_err(|e| TaskError::io("installing the SIGINT handler", e))?;
        tokio::spawn(async move {
            loop {
                let sig = tokio::select! {
                    _ = term.recv() => Signal::SIGTERM,
                    _ = int.recv() => Signal::SIGINT,
                };
                let _ = tx.send(Some(sig as i32));
            }
        });
        Ok(Shutdown { rx })
    }

    /// The signal received so far, if any.
    pub fn requested(&self) -> Option<i32> {
        *self.rx.borrow()
    }

    /// Wait for a signal.
    pub async fn wait(&mut self) -> i32 {
        loop {
            if let Some(s) = *self.rx.borrow_and_update() {
                return s;
            }
            if self.rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// How a child ended.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    /// Exit code, or 128 + signal number when killed by a signal (as a shell reports it).
    pub code: i32,
    /// The signal the wrapper received and forwarded, if any.
    pub interrupted_by: Option<i32>,
}

/// Exit code of a status: its code, or 128 + the signal.
pub fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// Run `inv` to its end, streaming its output to the console and `logs`.
pub async fn run(
    inv: &Invocation,
    logs: &LogSink,
    shutdown: &mut Shutdown,
    grace: Duration,
) -> Result<Outcome, TaskError> {
    let mut cmd = tokio::process::Command::new(&inv.program);
    cmd.args(&inv.args)
        .current_dir(&inv.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with(INIT_ENV_PREFIX) {
            cmd.env_remove(k);
        }
    }
    cmd.envs(inv.env.iter().map(|(k, v)| (k, v)));
    let out_log = logs.writer(Stream::Stdout)?;
    let err_log = logs.writer(Stream::Stderr)?;
    let mut child = cmd
        .spawn()
        .map_err(|e| TaskError::io(format!("starting {}", inv.program.to_string_lossy()), e))?;
    let pgid = Pid::from_raw(child.id().map(|p| p as i32).unwrap_or(0));
    let out = child
        .stdout
        .take()
        .map(|s| tokio::spawn(pump(s, out_log, Stream::Stdout)));
    let err = child
        .stderr
        .take()
        .map(|s| tokio::spawn(pump(s, err_log, Stream::Stderr)));

    let mut interrupted_by = None;
    let mut kill_at: Option<tokio::time::Instant> = None;
    let status = loop {
        tokio::select! {
            s = child.wait() => break s.map_err(|e| TaskError::io("waiting for the step", e))?,
            sig = shutdown.wait(), if interrupted_by.is_none() => {
                interrupted_by = Some(sig);
                let _ = killpg(pgid, Signal::try_from(sig).unwrap_or(Signal::SIGTERM));
                kill_at = Some(tokio::time::Instant::now() + grace);
            }
            _ = sleep_until(kill_at), if kill_at.is_some() => {
                let _ = killpg(pgid, Signal::SIGKILL);
                kill_at = None;
            }
        }
    };
    // Leftover processes of the group would hold the pipes open: the task is over, end them.
    let _ = killpg(pgid, Signal::SIGKILL);
    for pump in [out, err].into_iter().flatten() {
        let _ = tokio::time::timeout(Duration::from_secs(5), pump).await;
    }
    Ok(Outcome {
        code: exit_code(status),
        interrupted_by,
    })
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Copy a child's stream to the console and the log until EOF. Console writes are asynchronous,
/// so a console that stops reading never stalls signal handling or the other stream.
async fn pump(mut src: impl AsyncRead + Unpin, mut log: StreamLog, stream: Stream) {
    use tokio::io::AsyncWriteExt;
    let mut console: Box<dyn tokio::io::AsyncWrite + Unpin + Send> = match stream {
        Stream::Stdout => Box::new(tokio::io::stdout()),
        Stream::Stderr => Box::new(tokio::io::stderr()),
    };
    let mut console_ok = true;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match src.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let chunk = &buf[..n];
                log.write(chunk);
                if console_ok {
                    console_ok =
                        console.write_all(chunk).await.is_ok() && console.flush().await.is_ok();
                }
            }
        }
    }
    log.finish();
}
