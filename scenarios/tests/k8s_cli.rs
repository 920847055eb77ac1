//! `scenarios run ... --deployer k8s --dry-run` writes every object the
//! k8s deployer would create and creates nothing; without `--dry-run` the
//! k8s deployer says plainly that it cannot create them yet.

use std::process::Command;

#[test]
fn a_dry_run_writes_every_object_for_review() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    let out = Command::new(env!("CARGO_BIN_EXE_scenarios"))
        .args([
            "run",
            "raft-failover",
            "--deployer",
            "k8s",
            "--dry-run",
            "--image",
            "tf-raft:1",
        ])
        .arg("--run-dir")
        .arg(&run_dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("nothing created"), "{stdout}");
    let all = std::fs::read_to_string(run_dir.join("k8s/objects.yaml")).unwrap();
    // A namespace, the service, and per node a ConfigMap, a claim and a pod.
    assert_eq!(
        all.matches("\n---\n").count() + usize::from(all.starts_with("---")),
        11,
        "{all}"
    );
    assert!(all.contains("image: tf-raft:1"));
    assert!(all.contains("kind: Pod") && all.contains("clusterIP: None"));
    let files = std::fs::read_dir(run_dir.join("k8s")).unwrap().count();
    assert_eq!(files, 13);
    let partition = std::fs::read_to_string(run_dir.join("k8s/on-partition.yaml")).unwrap();
    assert_eq!(
        partition.matches("kind: NetworkPolicy").count(),
        2,
        "{partition}"
    );
}

#[test]
fn without_a_dry_run_the_k8s_deployer_says_what_it_cannot_do_yet() {
    let out = Command::new(env!("CARGO_BIN_EXE_scenarios"))
        .args(["run", "raft-failover", "--deployer", "k8s"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--dry-run"), "{stderr}");
}
