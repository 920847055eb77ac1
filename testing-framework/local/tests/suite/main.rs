//! The local deployer's integration tests, in one binary (one link instead
//! of one per file); each module is one subject, its page says which.

mod groups;
mod local_processes;

// The adopter examples: their tests run among these, side by side, rather
// than in binaries of their own, which cargo runs one after another (each
// mostly waits on its cluster).
// `cargo run -p tf-local --example adopter` runs one as a user would.
#[allow(dead_code)] // their `main`
#[path = "../../examples/adopter.rs"]
mod adopter;
#[allow(dead_code)]
#[path = "../../examples/kv_adopter.rs"]
mod kv_adopter;
