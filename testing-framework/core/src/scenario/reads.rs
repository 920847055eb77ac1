//! Which observer a condition reads: the one whose snapshots are the
//! condition's argument, so that a scenario names its observer once, where
//! it adds it, and `RecoversWithin::new("...", within, all_connected)`
//! finds it from `all_connected`'s argument type.

use std::any::{TypeId, type_name};
use std::marker::PhantomData;
use std::sync::Arc;

use super::ObserverChoice;
use super::{Application, MissingObserver, RunContext};
use crate::observation::{Observer, StateHandle};

/// The observer a condition on snapshots of type `S` reads: by default the
/// one observer whose snapshots are of type `S`, or the one named by its
/// type when several are.
pub(crate) struct Reads<S> {
    observer: Option<(TypeId, &'static str)>,
    _state: PhantomData<fn() -> S>,
}

/// Observer `O`, named by its type and its type's name.
pub(crate) fn observer_key<O: Observer>() -> (TypeId, &'static str) {
    (TypeId::of::<O>(), type_name::<O>())
}

impl<S: 'static> Reads<S> {
    /// The one observer whose snapshots are of type `S`.
    pub(crate) fn state() -> Self {
        Reads {
            observer: None,
            _state: PhantomData,
        }
    }

    /// Observer `O`, for a scenario with several observers of `S`.
    pub(crate) fn observed_by<O: Observer<Snapshot = S>>(&mut self) {
        self.observer = Some(observer_key::<O>());
    }

    /// Its handle in `ctx`, seen through `S`.
    pub(crate) fn handle<A: Application>(
        &self,
        ctx: &RunContext<A>,
    ) -> Result<Arc<dyn StateHandle<S>>, MissingObserver> {
        ctx.state::<S>(ObserverChoice {
            observer: self.observer,
            state: Some((TypeId::of::<S>(), type_name::<S>())),
        })
    }
}
