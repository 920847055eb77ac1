//! chain-rpc on local processes: validators and RPC nodes as two groups,
//! every transfer sent through the RPC nodes (which relay it) and included.

use std::time::Duration;

use chain_tf::scenarios::{ChainRpcOptions, chain_rpc};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_through_rpc_nodes_are_included_and_the_rpc_nodes_keep_up() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = chain_rpc(&ChainRpcOptions {
        validators: 3,
        rpc: 1,
        duration: Duration::from_secs(12),
        ..ChainRpcOptions::default()
    })
    .unwrap();
    let report = crate::run_locally(scenario, &tmp.path().join("run")).await;
    report.assert_passed();
    let groups: Vec<(&str, usize)> = report
        .groups
        .iter()
        .map(|g| (g.name.as_str(), g.nodes.len()))
        .collect();
    assert_eq!(groups, [("validator", 3), ("rpc", 1)]);
    let transfers = report
        .clients
        .iter()
        .find(|c| c.client == "transfers")
        .expect("transfers were recorded");
    assert!(transfers.ok > 0, "no transfer went through the RPC node");
}
