//! tf-k8s's integration tests, in one binary (one link instead of one per
//! file), against a fake Kubernetes API server (`support`); each module is
//! one subject, its page says which.

mod support;

mod api;
mod attach;
mod deployer;
mod groups;
mod links;
mod objects;
mod runner;
