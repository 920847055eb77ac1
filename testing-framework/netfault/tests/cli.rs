//! The helper binary as deployers run it. Being an integration test, this
//! also has `cargo test` build `tf-netfault` with the workspace's features,
//! so the compose tests find it built rather than building it in the
//! middle of a fault.

use std::process::Command;

#[test]
fn without_a_command_it_says_how_it_is_run() {
    let output = Command::new(env!("CARGO_BIN_EXE_tf-netfault"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains("usage: tf-netfault agent | tf-netfault ctl"),
        "{said}"
    );
}
