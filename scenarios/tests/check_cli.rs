//! `scenarios check`: a recorded history judged offline, with the exit
//! code a script can act on.

use std::path::Path;
use std::process::{Command, Output};

use tf_core::history::{HISTORY_FILE, write_edn};
use tf_core::testing::{Anomaly, KvHistory};

fn check(args: &[&str], path: &Path) -> (Output, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_scenarios"))
        .arg("check")
        .arg(path)
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

fn jsonl(events: &[tf_core::history::Event]) -> String {
    events
        .iter()
        .map(|e| serde_json::to_string(e).unwrap() + "\n")
        .collect()
}

#[test]
fn a_linearizable_run_directory_passes_and_can_be_exported_as_edn() {
    let dir = tempfile::tempdir().unwrap();
    let generated = KvHistory::default().generate(None);
    std::fs::write(dir.path().join(HISTORY_FILE), jsonl(&generated.events)).unwrap();
    let edn = dir.path().join("out.edn");
    let (out, text) = check(&["--edn", edn.to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("linearizable (kv model;"), "{text}");
    // The exported EDN is judged the same.
    let (out, text) = check(&[], &edn);
    assert_eq!(out.status.code(), Some(0), "{text}");
}

#[test]
fn a_stale_read_in_edn_exits_1_with_a_counterexample() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.edn");
    let generated = (0..50)
        .map(|seed| {
            KvHistory {
                seed,
                ..KvHistory::default()
            }
            .generate(Some(Anomaly::StaleRead))
        })
        .find(|g| g.injected.is_some())
        .unwrap();
    let mut edn = Vec::new();
    write_edn(&generated.events, &mut edn).unwrap();
    std::fs::write(&path, edn).unwrap();
    let (out, text) = check(&["--model", "kv"], &path);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("NOT linearizable"), "{text}");
    assert!(text.contains("cannot linearize: process"), "{text}");
    assert!(text.contains("longest linearizable prefix"), "{text}");
}

#[test]
fn a_register_history_of_another_shape_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.edn");
    std::fs::write(
        &path,
        "{:type :invoke, :f :write, :value 1, :process 0, :time 1}\n{:type :ok, :f :write, :value 1, :process 0, :time 2}\n",
    )
    .unwrap();
    let (out, text) = check(&["--model", "register"], &path);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let (out, text) = check(&["--model", "kv"], &path);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("does not fit the `kv` model") && text.contains("[key, value]"),
        "{text}"
    );

    let (out, text) = check(&[], &dir.path().join("missing.jsonl"));
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("cannot read") && text.contains("missing.jsonl"),
        "{text}"
    );
}
