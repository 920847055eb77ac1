//! The catalog's scenarios on local processes, every app's in one binary:
//! a run mostly waits on its window, elections and confirmations, so the
//! runs of the Raft store, the chain and Redis wait side by side (cargo
//! runs test binaries one after another).

mod chain;
mod raft;
mod redis;
