//! tf-core's integration tests, in one binary (one link instead of one per
//! file); each module is one subject, its page says which.

mod support;

mod client_stats;
mod failover_checks;
mod fault_mix;
mod groups;
mod history;
#[cfg(feature = "http")]
mod http_client;
mod kv_workload;
mod linearizability;
mod node_fault;
mod observation_runtime;
mod observation_stream;
mod observation_waits;
mod observer_lookup;
mod scenario_builder;
mod scenario_runner;
mod window;
