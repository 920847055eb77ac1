//! The reaper binary as the deployer runs it. Being an integration test,
//! this also has `cargo test` build `tf-reaper` with the workspace's
//! features, so the compose tests find it built rather than building it
//! while a cluster runs.

use std::process::Command;

#[test]
fn without_a_run_it_says_it_is_not_run_by_hand() {
    let output = Command::new(env!("CARGO_BIN_EXE_tf-reaper"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("usage: tf-reaper RUN"), "{said}");
    assert!(said.contains("not meant to be run by hand"), "{said}");
}
