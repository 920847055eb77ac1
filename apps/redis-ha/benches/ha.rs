//! The Redis HA topology (3 data nodes, then 3 Sentinels) on local
//! processes and on compose: how long from deploy to every node ready, and
//! how long from the primary's SIGKILL until a write through the node the
//! Sentinels name succeeds again. Printed as Markdown rows for the performance page (guide/src/performance.md).
//! Needs Debian's redis-server (and a Docker engine for the compose rows).
//! Run: `cargo bench -p redis-ha-tf --bench ha`.

use std::time::{Duration, Instant};

use redis_ha_tf::scenarios::topology;
use redis_ha_tf::{MASTER, RedisClient, Sentinel};
use tf_compose::ComposeDeployer;
use tf_core::scenario::deploy::Cluster;
use tf_core::scenario::{Deployer, NodeEndpoint};
use tf_local::LocalDeployer;

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let runs = if quick { 1 } else { 5 };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let local = LocalDeployer::new().with_runs_root(tmp.path());
    let compose = ComposeDeployer::new().with_runs_root(tmp.path());
    let docker = rt.block_on(tf_compose::docker_available());
    println!(
        "| Redis HA, 3 data nodes + 3 Sentinels | deploy to all ready, median | primary killed to a write accepted, median | runs |"
    );
    println!("|---|---|---|---|");
    let mut deployers: Vec<(&str, &dyn Deployer)> = vec![("local processes", &local)];
    match &docker {
        Ok(()) => deployers.push(("compose", &compose)),
        Err(why) => eprintln!("compose rows skipped: {why}"),
    }
    for (name, deployer) in deployers {
        let (mut ready, mut failover) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            let (r, f) = rt.block_on(once(deployer));
            ready.push(r);
            failover.push(f);
        }
        println!(
            "| {name} | {:.2} s | {:.2} s | {runs} |",
            median(&mut ready).as_secs_f64(),
            median(&mut failover).as_secs_f64()
        );
    }
}

/// One deploy: the time to every node ready, then the failover's.
async fn once(deployer: &dyn Deployer) -> (Duration, Duration) {
    let scenario = topology("redis-bench", 3, 3, Sentinel::default())
        .build()
        .unwrap();
    let request = scenario.request();
    let started = Instant::now();
    let mut cluster = deployer.deploy(&request).await.unwrap();
    let endpoints = cluster.endpoints();
    request
        .wait_ready(&endpoints, |_| None)
        .await
        .expect("the topology did not become ready");
    let ready = started.elapsed();
    let failover = failover(&*cluster, &endpoints).await;
    cluster.cleanup().await;
    (ready, failover)
}

/// Kills the primary (redis-0), then writes through whichever node the
/// first Sentinel names until a write succeeds; the time from the kill.
async fn failover(cluster: &dyn Cluster, endpoints: &[NodeEndpoint]) -> Duration {
    let client = |group: &str, port: &str, kind| {
        let node = endpoints.iter().find(|e| e.group == group).unwrap();
        RedisClient::new(&node.address_of(port).unwrap(), kind).unwrap()
    };
    let sentinel = client("sentinel", "sentinel", redis_ha_tf::Kind::Sentinel);
    let by_port = |named: &str| {
        let port = named.rsplit(':').next().unwrap_or_default();
        endpoints
            .iter()
            .filter(|e| e.group == "redis")
            .find(|e| e.address.ends_with(&format!(":{port}")))
            .map(|e| RedisClient::new(&e.address, redis_ha_tf::Kind::Server).unwrap())
    };
    cluster.control().kill("redis-0").await.unwrap();
    let killed = Instant::now();
    // A client retrying its write: the measurement itself.
    loop {
        assert!(
            killed.elapsed() < Duration::from_secs(60),
            "no failover within 60 s"
        );
        if let Ok(Some(named)) = sentinel.sentinel_primary(MASTER).await {
            if let Some(primary) = by_port(&named) {
                if primary.set("bench", "1").await.is_ok() {
                    return killed.elapsed();
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}
