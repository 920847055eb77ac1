//! Checkers that judge a run by what its clients saw (a
//! [`crate::history`]): linearizability against a sequential [`Model`]
//! (a [`Register`], a [`KeyValue`] map checked key by key, or the app's
//! own), and that every acknowledged write survives; and the same as
//! expectations of a scenario ([`Linearizable`],
//! [`AcknowledgedWritesSurvive`]), judged from the run's history; and
//! service-level objectives over the same history ([`LatencySlo`],
//! [`ThroughputSlo`], [`AvailabilitySlo`]).

mod acked;
mod expectations;
mod kv;
mod linearizable;
mod model;
mod register;
mod search;
mod slo;

pub use acked::{AckedWrites, acknowledged_writes};
pub use expectations::{AcknowledgedWritesLostAtMost, AcknowledgedWritesSurvive, Linearizable};
pub use kv::{KeyValue, KvOp};
pub use linearizable::{
    CheckOptions, Counterexample, Linearizability, LinearizabilityReport, ModelMismatch,
    check_linearizable,
};
pub use model::Model;
pub use register::{Register, RegisterOp};
pub use slo::{AvailabilitySlo, LatencySlo, Requests, ThroughputSlo};
