//! A subscriber's view of the stream of observations.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;
use tokio_stream::wrappers::WatchStream;

use super::history::Read;
use super::shared::{Advance, Lifecycle, Shared};
use super::stream::Cursor;
use super::{ObservationOf, Observer};

/// How many observations a subscriber copies out of the history per lock.
const READ_BATCH: usize = 256;

/// A subscriber fell so far behind that observations it had not read yet
/// were trimmed from the history. The stream goes on from the oldest
/// retained observation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "subscriber lagged: {missed} observations were trimmed from the history before it read them; \
     raise `history_capacity` or read faster"
)]
pub struct Lagged {
    /// How many observations it missed.
    pub missed: u64,
}

/// A [`Stream`] of observations, each with the events of one cycle, in
/// publication order. Made by
/// [`ObservationHandle::subscribe`](super::ObservationHandle::subscribe) and
/// [`subscribe_from`](super::ObservationHandle::subscribe_from).
///
/// A slow subscriber never slows the runtime: it reads from the bounded
/// history at its own pace, and if it falls out of the history it gets one
/// [`Lagged`] item saying how many it missed. The stream ends once the
/// runtime has stopped and everything published was delivered.
pub struct Subscription<O: Observer> {
    shared: Arc<Shared<O>>,
    cursor: Cursor,
    buffer: VecDeque<Arc<ObservationOf<O>>>,
    wake: WatchStream<Advance>,
}

impl<O: Observer> Subscription<O> {
    pub(crate) fn new(shared: Arc<Shared<O>>, cursor: Cursor) -> Self {
        let wake = WatchStream::new(shared.progress.subscribe());
        Subscription {
            shared,
            cursor,
            buffer: VecDeque::new(),
            wake,
        }
    }

    /// The position of the last observation this subscription delivered (or
    /// skipped as lagged). Subscribe from it later to resume without gap or
    /// duplicate.
    pub fn cursor(&self) -> Cursor {
        self.cursor
    }

    /// Copies what follows the cursor out of the history, or reports a lag.
    fn refill(&mut self) -> Option<Lagged> {
        let after = self
            .buffer
            .back()
            .map_or(self.cursor, |newest| newest.cursor);
        let history = self.shared.history.read();
        match history.read_after(after, READ_BATCH, &mut self.buffer) {
            Read::Items(_) => None,
            Read::Missed(missed) => {
                self.cursor = history.oldest_cursor();
                Some(Lagged { missed })
            }
        }
    }
}

impl<O: Observer> Stream for Subscription<O> {
    type Item = Result<Arc<ObservationOf<O>>, Lagged>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(observation) = this.buffer.pop_front() {
                this.cursor = observation.cursor;
                return Poll::Ready(Some(Ok(observation)));
            }
            // Read before the refill: whatever was published before the
            // runtime stopped is then in the history the refill reads.
            let stopped = this.shared.lifecycle() == Lifecycle::Stopped;
            if let Some(lagged) = this.refill() {
                return Poll::Ready(Some(Err(lagged)));
            }
            if !this.buffer.is_empty() {
                continue;
            }
            if stopped {
                return Poll::Ready(None);
            }
            // Nothing new: wait for the next publication. The watch stream
            // yields at once if anything was published since it last
            // yielded, so a publication between the refill and here is not
            // missed.
            match Pin::new(&mut this.wake).poll_next(cx) {
                Poll::Ready(Some(_)) => continue,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
