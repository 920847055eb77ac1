//! The chain node's integration tests, in one binary (one link instead of
//! one per file); each module is one subject, its page says which.

mod catch_up;
mod follower;
mod fork_choice;
mod network;
mod restart;
mod simulation;
