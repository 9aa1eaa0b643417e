//! The wait before a retry of a step with `@retry(minutes_between_retries=M)`
//! (`docs/runtime-contract.md` §7).
//!
//! Batch retries a failed job at once, and every attempt of a task runs in that one job (the job
//! id is the task id, so every attempt's logs, artifacts and metadata stay under one task id, as
//! in Metaflow). The wrapper of each attempt after the first therefore waits M minutes before it
//! runs anything, as Metaflow's own Batch launcher sleeps before it submits a retry. A signal
//! (terminate) ends the wait at once. `FERRY_CLOCK_SPEEDUP` (the embedded stack's test clock)
//! divides the wait.

use std::time::Duration;

use ferry_spec::task::Retries;

use crate::child::Shutdown;
use crate::env::TaskEnv;
use crate::error::TaskError;
use crate::logs::{LogSink, Stream};

/// Wait before this attempt when it is a retry of a step with a delay, after saying so on the
/// console and in the attempt's stderr log. `Some(128 + signal)` when a signal ended the wait
/// (nothing else runs then), `None` when the attempt may go on.
pub async fn before_attempt(
    env: &TaskEnv,
    retries: &Retries,
    sink: &LogSink,
    shutdown: &mut Shutdown,
) -> Result<Option<i32>, TaskError> {
    let minutes = retries.minutes_between_retries;
    let Some(wait) = delay(env.attempt, minutes, env.clock_speedup()) else {
        return Ok(None);
    };
    let line = note(env.retry_count()?, minutes, wait);
    eprintln!("{line}");
    sink.note(Stream::Stderr, &line);
    sink.flush().await;
    tokio::select! {
        _ = tokio::time::sleep(wait) => Ok(None),
        sig = shutdown.wait() => Ok(Some(128 + sig)),
    }
}

/// How long attempt `attempt` (1-based, as `AWS_BATCH_JOB_ATTEMPT`) waits: M minutes ÷ `speedup`
/// for attempts after the first, `None` for the first attempt or M = 0.
pub fn delay(attempt: u32, minutes: u32, speedup: f64) -> Option<Duration> {
    if attempt < 2 || minutes == 0 {
        return None;
    }
    let speedup = if speedup.is_finite() && speedup > 1.0 {
        speedup
    } else {
        1.0
    };
    Some(Duration::from_secs(u64::from(minutes) * 60).div_f64(speedup))
}

/// The line the wrapper writes to the attempt's stderr before it waits, e.g. `ferry
/// task-wrapper: waiting 2 minutes before retry 1 (@retry(minutes_between_retries=2))`.
pub fn note(retry_count: u32, minutes: u32, wait: Duration) -> String {
    let unit = if minutes == 1 { "minute" } else { "minutes" };
    let mut line = format!(
        "ferry task-wrapper: waiting {minutes} {unit} before retry {retry_count} \
         (@retry(minutes_between_retries={minutes}))"
    );
    let full = Duration::from_secs(u64::from(minutes) * 60);
    if wait < full {
        line.push_str(&format!(
            "; the test clock makes that {:.1} s",
            wait.as_secs_f64()
        ));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_retries_wait() {
        assert_eq!(delay(1, 2, 1.0), None);
        assert_eq!(delay(2, 0, 1.0), None);
        assert_eq!(delay(2, 2, 1.0), Some(Duration::from_secs(120)));
        assert_eq!(delay(3, 1, 60.0), Some(Duration::from_secs(1)));
        for odd in [0.5, f64::NAN, f64::INFINITY, -3.0] {
            assert_eq!(delay(2, 1, odd), Some(Duration::from_secs(60)), "{odd}");
        }
    }

    #[test]
    fn the_note_names_the_retry_and_the_delay() {
        assert_eq!(
            note(1, 2, Duration::from_secs(120)),
            "ferry task-wrapper: waiting 2 minutes before retry 1 (@retry(minutes_between_retries=2))"
        );
        assert!(
            note(2, 1, Duration::from_secs(1))
                .starts_with("ferry task-wrapper: waiting 1 minute before retry 2")
        );
        assert!(note(2, 1, Duration::from_secs(1)).ends_with("the test clock makes that 1.0 s"));
    }
}
