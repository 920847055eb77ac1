//! The k8s deployer from the CLI: `scenarios run ... --deployer k8s
//! --dry-run` writes every object it would create and creates nothing;
//! a real run without a cluster to talk to says how to point at one.

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
fn a_run_without_a_kubeconfig_says_how_to_point_at_a_cluster() {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_scenarios"))
        .args(["run", "raft-failover", "--deployer", "k8s"])
        .arg("--run-dir")
        .arg(home.path().join("run"))
        .env("HOME", home.path())
        .env("KUBECONFIG", home.path().join("no-such-config"))
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let all =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(all.contains("no Kubernetes configuration found"), "{all}");
    assert!(all.contains("point KUBECONFIG at your cluster"), "{all}");
}

#[test]
fn a_dry_run_of_the_runner_in_the_cluster_writes_its_job_and_rights_too() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_scenarios"))
        .args(["run", "raft-failover", "--deployer", "k8s", "--dry-run"])
        .args(["--runner-in-cluster", "--runner-image", "tf-scenarios:7"])
        .args([
            "--set",
            "nodes=5",
            "--image",
            "tf-raft:1",
            "--node-port-host",
            "10.1.2.3",
        ])
        .arg("--run-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let runner = std::fs::read_to_string(dir.path().join("k8s/runner.yaml")).unwrap();
    assert!(runner.contains("kind: Job") && runner.contains("kind: ClusterRole"));
    assert!(runner.contains("image: tf-scenarios:7"), "{runner}");
    assert!(runner.contains("- nodes=5"), "{runner}");
    // The nodes the runner deploys use the given node image.
    assert!(runner.contains("value: tf-raft:1"), "{runner}");
    let node_ports = std::fs::read_to_string(dir.path().join("k8s/node-ports.yaml")).unwrap();
    assert_eq!(
        node_ports.matches("type: NodePort").count(),
        5,
        "{node_ports}"
    );
}

#[test]
fn the_runner_in_the_cluster_needs_the_k8s_deployer() {
    let out = Command::new(env!("CARGO_BIN_EXE_scenarios"))
        .args(["run", "raft-failover", "--runner-in-cluster"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("add --deployer k8s"), "{stderr}");
    let out = Command::new(env!("CARGO_BIN_EXE_scenarios"))
        .args(["run", "raft-failover", "--attach", "app=raft"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("add --deployer k8s"));
}

#[test]
fn the_partition_probe_tells_a_reachable_port_from_a_cut_one() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let open = listener.local_addr().unwrap().to_string();
    let probe = |address: &str| {
        Command::new(env!("CARGO_BIN_EXE_scenarios"))
            .args(["probe", "--connect", address, "--within", "2"])
            .output()
            .unwrap()
    };
    let reached = probe(&open);
    assert_eq!(reached.status.code(), Some(tf_k8s::REACHED), "{reached:?}");
    drop(listener);
    // Nothing listens there any more: the probe counts it as cut.
    let cut = probe(&open);
    assert_eq!(cut.status.code(), Some(0), "{cut:?}");
    assert!(String::from_utf8_lossy(&cut.stdout).contains("could not reach"));
    let nowhere = probe("no-such-host.invalid:7000");
    assert_eq!(nowhere.status.code(), Some(2), "{nowhere:?}");
    // A control it cannot reach makes the probe blind, whatever the target.
    let blind = Command::new(env!("CARGO_BIN_EXE_scenarios"))
        .args([
            "probe",
            "--connect",
            &open,
            "--control",
            &open,
            "--within",
            "2",
        ])
        .output()
        .unwrap();
    assert_eq!(blind.status.code(), Some(tf_k8s::BLIND), "{blind:?}");
    let own_side = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let control = own_side.local_addr().unwrap().to_string();
    let sound = Command::new(env!("CARGO_BIN_EXE_scenarios"))
        .args([
            "probe",
            "--connect",
            &open,
            "--control",
            &control,
            "--within",
            "2",
        ])
        .output()
        .unwrap();
    assert_eq!(sound.status.code(), Some(0), "{sound:?}");
}
