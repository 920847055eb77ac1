//! The local deployer's integration tests, in one binary (one link instead
//! of one per file); each module is one subject, its page says which.

mod groups;
mod local_processes;
