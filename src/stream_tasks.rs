//! HTTP/2 streams as tasks that a connection's watchdog can stop. hyper
//! runs each stream (its handling, then its response body) as a task it
//! spawns through the connection's executor; [`StreamExecutor`] spawns it
//! with a [`StreamCell`] that the handler finds while it runs
//! ([`StreamCell::current`]) and that the watchdog can [`StreamCell::cut`].
//! A cut task ends at once: dropping it drops the stream's handles, and h2
//! resets the stream (RST_STREAM), so a client that stopped reading or an
//! upstream that stalled costs one stream, not the whole connection.

use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

use crate::body::End;

tokio::task_local! {
    static CURRENT: Arc<StreamCell>;
}

/// The executor of the HTTP/2 builder: tokio's, with a [`StreamCell`] per task.
#[derive(Debug, Clone, Copy, Default)]
pub struct StreamExecutor;

impl<F> hyper::rt::Executor<F> for StreamExecutor
where
    F: Future<Output = ()> + Send + 'static,
{
    fn execute(&self, fut: F) {
        tokio::spawn(StreamTask { cell: Arc::default(), inner: fut });
    }
}

/// A stream task's handle for its connection's watchdog.
#[derive(Debug, Default)]
pub struct StreamCell {
    /// 0 while the task runs; otherwise the [`End`] it was cut for.
    cut: AtomicU8,
    waker: Mutex<Option<Waker>>,
}

impl StreamCell {
    /// The cell of the stream task running now, if it runs under [`StreamExecutor`].
    pub fn current() -> Option<Arc<Self>> {
        CURRENT.try_with(Arc::clone).ok()
    }

    /// Ends the task (and so resets its stream) for `why`.
    pub fn cut(&self, why: End) {
        let _ = self.cut.compare_exchange(0, why.to_u8(), Ordering::AcqRel, Ordering::Acquire);
        let waker = self.waker.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Why the task was cut, once it was.
    pub fn cut_reason(&self) -> Option<End> {
        End::from_u8(self.cut.load(Ordering::Acquire))
    }

    fn register(&self, waker: &Waker) {
        let mut slot = self.waker.lock().unwrap_or_else(PoisonError::into_inner);
        if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *slot = Some(waker.clone());
        }
    }
}

pin_project_lite::pin_project! {
    struct StreamTask<F> {
        cell: Arc<StreamCell>,
        #[pin]
        inner: F,
    }
}

impl<F: Future<Output = ()>> Future for StreamTask<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        if this.cell.cut_reason().is_some() {
            return Poll::Ready(());
        }
        this.cell.register(cx.waker());
        CURRENT.sync_scope(this.cell.clone(), || this.inner.poll(cx))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use hyper::rt::Executor as _;
    use tokio::sync::oneshot;

    use super::*;

    #[tokio::test]
    async fn a_cut_task_ends_and_drops_what_it_held() {
        let (cell_tx, cell_rx) = oneshot::channel();
        let (dropped_tx, dropped_rx) = oneshot::channel::<()>();
        StreamExecutor.execute(async move {
            let _held = dropped_tx;
            let _ = cell_tx.send(StreamCell::current().expect("the task's own cell"));
            std::future::pending::<()>().await;
        });
        let cell = cell_rx.await.expect("the task ran");
        cell.cut(End::SendIdle);
        // The sender it held is dropped with the task.
        let ended = tokio::time::timeout(Duration::from_secs(1), dropped_rx).await;
        assert!(ended.is_ok_and(|r| r.is_err()), "the task still runs");
        assert_eq!(cell.cut_reason(), Some(End::SendIdle));
        assert!(StreamCell::current().is_none(), "no cell outside a stream task");
    }
}
