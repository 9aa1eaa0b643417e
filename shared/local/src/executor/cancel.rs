//! Cancellation signal for running tasks (a stopped execution, a sibling branch that failed).

use tokio::sync::watch;

/// The sending side: [`CancelSource::cancel`] fires every [`Cancellation`] made from it.
#[derive(Debug)]
pub struct CancelSource {
    tx: watch::Sender<bool>,
}

/// The receiving side, handed to task resources (e.g. a [`super::BatchRunner`]): cheap to clone.
#[derive(Debug, Clone)]
pub struct Cancellation {
    rx: watch::Receiver<bool>,
}

impl Default for CancelSource {
    fn default() -> Self {
        Self::new()
    }
}

impl CancelSource {
    /// A new, not yet fired, source.
    pub fn new() -> Self {
        CancelSource {
            tx: watch::Sender::new(false),
        }
    }
    /// A receiver.
    pub fn token(&self) -> Cancellation {
        Cancellation {
            rx: self.tx.subscribe(),
        }
    }
    /// Fire (idempotent).
    pub fn cancel(&self) {
        self.tx.send_replace(true);
    }
}

impl Cancellation {
    /// A token that never fires.
    pub fn never() -> Self {
        let (tx, rx) = watch::channel(false);
        // Keep the sender alive forever so `cancelled` waits forever rather than returning.
        std::mem::forget(tx);
        Cancellation { rx }
    }
    /// Whether the source fired.
    pub fn is_cancelled(&self) -> bool {
        *self.rx.borrow()
    }
    /// Resolves when the source fires (never if the source is dropped unfired).
    pub async fn cancelled(&self) {
        let mut rx = self.rx.clone();
        if rx.wait_for(|v| *v).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
