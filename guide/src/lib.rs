//! The guide to TF, a testing framework for distributed systems.
//!
//! This crate has no code of its own: each module's documentation is one
//! page of the guide (`guide/src/<page>.md`, read on GitHub from
//! `guide/README.md`, or here with `cargo doc -p tf-guide --open`). The
//! guide is a crate so that every Rust snippet in it is a doctest: the
//! README's test command (`cargo test --workspace --all-features`)
//! compiles them against the workspace's crates, and nothing else (no
//! mdBook) has to be installed. `cargo test -p tf-guide --doc` runs them
//! alone.
//!
//! Snippets that would start a cluster or need Docker are compiled, not
//! run (`no_run`); small ones that need nothing run.
//!
//! The adopting page shows `testing-framework/local/examples/adopter.rs`
//! as it is, from its first `use` line to its `main` (the example compiles
//! and its test runs in the suite); this check fails when the two drift
//! apart:
//!
//! ```
//! let page = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/src/adopting.md"));
//! let example = include_str!(concat!(
//!     env!("CARGO_MANIFEST_DIR"),
//!     "/../testing-framework/local/examples/adopter.rs"
//! ));
//! let start = page
//!     .find("```rust,no_run\nuse std::collections::BTreeMap;")
//!     .expect("the adopting page shows the adopter's file");
//! let block = &page[start..];
//! let block = &block[block.find('\n').unwrap() + 1..];
//! let block = &block[..block.find("```").unwrap()];
//! assert!(
//!     example.contains(block),
//!     "guide/src/adopting.md no longer shows examples/adopter.rs as it is: copy it again"
//! );
//! ```

#[doc = include_str!("getting-started.md")]
pub mod getting_started {}

#[doc = include_str!("adopting.md")]
pub mod adopting {}

#[doc = include_str!("observation.md")]
pub mod observation {}

#[doc = include_str!("scenarios.md")]
pub mod scenarios {}

#[doc = include_str!("deployers.md")]
pub mod deployers {}

#[doc = include_str!("faults.md")]
pub mod faults {}

#[doc = include_str!("histories.md")]
pub mod histories {}

#[doc = include_str!("features.md")]
pub mod features {}

#[doc = include_str!("reports.md")]
pub mod reports {}

#[doc = include_str!("run-history.md")]
pub mod run_history {}

#[doc = include_str!("performance.md")]
pub mod performance {}

#[doc = include_str!("reference.md")]
pub mod reference {}
