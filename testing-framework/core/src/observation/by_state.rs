//! An observer's handle seen through the type of its snapshots, its events
//! and its own type erased: what the framework's expectations and faults
//! read, so that a scenario names an observer once (where it adds it) and
//! every condition finds it by the state the condition reads.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use tokio::time::Instant;

use super::diagnostics::Diagnostics;
use super::error::WaitError;
use super::stream::{Cursor, Lagged};
use super::{Observation, ObservationHandle, Observer, Reachability, SourceHealth};

/// One observation, seen through its snapshot.
pub(crate) trait Seen<S: ?Sized>: Send + Sync {
    fn snapshot(&self) -> &S;
    fn cursor(&self) -> Cursor;
    fn observed_at(&self) -> Instant;
    /// The cycle, its sources, its age and the snapshot, for a report.
    fn describe(&self) -> String;
}

impl<S, E> Seen<S> for Observation<S, E>
where
    S: std::fmt::Debug + Send + Sync,
    E: Send + Sync,
{
    fn snapshot(&self) -> &S {
        &self.snapshot
    }

    fn cursor(&self) -> Cursor {
        self.cursor
    }

    fn observed_at(&self) -> Instant {
        self.observed_at
    }

    fn describe(&self) -> String {
        format!(
            "cycle {} ({} sources, observed {:?} ago):\n{:#?}",
            self.cycle,
            self.source_count,
            self.age(),
            self.snapshot
        )
    }
}

/// A shared observation seen through its snapshot.
pub(crate) type SeenArc<S> = Arc<dyn Seen<S>>;

/// A snapshot of some type, for conditions stored without their type.
pub(crate) type AnySnapshot = dyn Any + Send + Sync;

/// A condition on a snapshot, borrowed for one wait.
pub(crate) type Condition<'a, S> = &'a (dyn Fn(&S) -> bool + Send + Sync);

/// The part of an [`ObservationHandle`] that conditions on state need,
/// for whichever observer publishes snapshots of type `S`.
pub(crate) trait StateHandle<S: ?Sized>: Send + Sync {
    fn observer_name(&self) -> &str;
    fn cursor(&self) -> Cursor;
    fn source_health(&self) -> Vec<SourceHealth>;
    fn diagnostics(&self) -> Diagnostics;
    fn latest(&self) -> Option<SeenArc<S>>;
    /// [`ObservationHandle::wait_until`], or with a cursor
    /// [`ObservationHandle::wait_until_after`].
    fn wait_until<'a>(
        &'a self,
        after: Option<Cursor>,
        condition: Condition<'a, S>,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<SeenArc<S>, WaitError>>;
    /// [`ObservationHandle::wait_for_reachability_from`].
    fn wait_for_reachability_from<'a>(
        &'a self,
        cursor: Cursor,
        condition: &'a (dyn Fn(&Reachability) -> bool + Send + Sync),
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Reachability, WaitError>>;
    /// [`ObservationHandle::subscribe_from`].
    fn subscribe_from(&self, cursor: Cursor) -> BoxStream<'static, Result<SeenArc<S>, Lagged>>;
}

impl<O: Observer> StateHandle<O::Snapshot> for ObservationHandle<O> {
    fn observer_name(&self) -> &str {
        ObservationHandle::observer_name(self)
    }

    fn cursor(&self) -> Cursor {
        ObservationHandle::cursor(self)
    }

    fn source_health(&self) -> Vec<SourceHealth> {
        ObservationHandle::source_health(self)
    }

    fn diagnostics(&self) -> Diagnostics {
        ObservationHandle::diagnostics(self)
    }

    fn latest(&self) -> Option<SeenArc<O::Snapshot>> {
        self.latest_snapshot()
            .map(|latest| latest.into_arc() as SeenArc<O::Snapshot>)
    }

    fn wait_until<'a>(
        &'a self,
        after: Option<Cursor>,
        condition: Condition<'a, O::Snapshot>,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<SeenArc<O::Snapshot>, WaitError>> {
        Box::pin(async move {
            let seen = match after {
                Some(cursor) => self.wait_until_after(cursor, condition, timeout).await,
                None => ObservationHandle::wait_until(self, condition, timeout).await,
            };
            seen.map(|observation| observation as SeenArc<O::Snapshot>)
        })
    }

    fn wait_for_reachability_from<'a>(
        &'a self,
        cursor: Cursor,
        condition: &'a (dyn Fn(&Reachability) -> bool + Send + Sync),
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Reachability, WaitError>> {
        Box::pin(ObservationHandle::wait_for_reachability_from(
            self, cursor, condition, timeout,
        ))
    }

    fn subscribe_from(
        &self,
        cursor: Cursor,
    ) -> BoxStream<'static, Result<SeenArc<O::Snapshot>, Lagged>> {
        ObservationHandle::subscribe_from(self, cursor)
            .map(|next| next.map(|observation| observation as SeenArc<O::Snapshot>))
            .boxed()
    }
}

/// A handle seen through `S`, seen once more through `dyn Any`: for
/// conditions stored without their snapshot type (a fault's), and for a
/// fault with no condition, which reads any observer's reachability.
pub(crate) struct AnyState<S>(pub(crate) Arc<dyn StateHandle<S>>);

/// An observation seen through `S`, seen through `dyn Any`.
struct AnySeen<S>(SeenArc<S>);

impl<S: Send + Sync + 'static> Seen<AnySnapshot> for AnySeen<S> {
    fn snapshot(&self) -> &AnySnapshot {
        self.0.snapshot()
    }

    fn cursor(&self) -> Cursor {
        self.0.cursor()
    }

    fn observed_at(&self) -> Instant {
        self.0.observed_at()
    }

    fn describe(&self) -> String {
        self.0.describe()
    }
}

impl<S: Send + Sync + 'static> AnyState<S> {
    fn seen(seen: SeenArc<S>) -> SeenArc<AnySnapshot> {
        Arc::new(AnySeen(seen))
    }
}

impl<S: Send + Sync + 'static> StateHandle<AnySnapshot> for AnyState<S> {
    fn observer_name(&self) -> &str {
        self.0.observer_name()
    }

    fn cursor(&self) -> Cursor {
        self.0.cursor()
    }

    fn source_health(&self) -> Vec<SourceHealth> {
        self.0.source_health()
    }

    fn diagnostics(&self) -> Diagnostics {
        self.0.diagnostics()
    }

    fn latest(&self) -> Option<SeenArc<AnySnapshot>> {
        self.0.latest().map(Self::seen)
    }

    fn wait_until<'a>(
        &'a self,
        after: Option<Cursor>,
        condition: Condition<'a, AnySnapshot>,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<SeenArc<AnySnapshot>, WaitError>> {
        Box::pin(async move {
            let typed = |snapshot: &S| condition(snapshot);
            self.0
                .wait_until(after, &typed, timeout)
                .await
                .map(Self::seen)
        })
    }

    fn wait_for_reachability_from<'a>(
        &'a self,
        cursor: Cursor,
        condition: &'a (dyn Fn(&Reachability) -> bool + Send + Sync),
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Reachability, WaitError>> {
        self.0
            .wait_for_reachability_from(cursor, condition, timeout)
    }

    fn subscribe_from(
        &self,
        cursor: Cursor,
    ) -> BoxStream<'static, Result<SeenArc<AnySnapshot>, Lagged>> {
        self.0
            .subscribe_from(cursor)
            .map(|next| next.map(Self::seen))
            .boxed()
    }
}
