//! The two kinds of node, both Debian's `redis-server`: data nodes (the
//! first of their group starts as the primary, the others replicate it)
//! and Sentinels that watch them and elect a new primary when it fails.

use async_trait::async_trait;
use tf_core::BoxError;
use tf_core::scenario::{
    Application, NodeBinary, NodeCommand, NodeEndpoint, NodeSpec, PortSpec, RunContext, Topology,
};
use tf_core::workloads::{KeyValueStore, KvError, KvRequest};

use crate::client::{Kind, RedisClient};
use crate::observer::HaObserver;

/// The name the Sentinels monitor the primary under.
pub const MASTER: &str = "primary";

/// The binary of both kinds: `redis-server` from Debian's packages
/// (`$TF_REDIS_SERVER` to use another).
fn redis_server() -> NodeBinary {
    NodeBinary::named("redis-server", "TF_REDIS_SERVER")
}

/// Data nodes: the first of the group is the primary, the rest replicate
/// it. Writes go to whichever node the Sentinels name.
#[derive(Clone, Debug, Default)]
pub struct RedisServer;

#[async_trait]
impl Application for RedisServer {
    type Client = RedisClient;

    fn name(&self) -> &str {
        "redis"
    }

    fn binary(&self) -> NodeBinary {
        redis_server()
    }

    fn ports(&self) -> Vec<PortSpec> {
        vec![PortSpec::tcp("redis")]
    }

    fn node_command(
        &self,
        node: &NodeSpec,
        topology: &[NodeSpec],
    ) -> Result<NodeCommand, BoxError> {
        let mut args = vec![
            "--port".to_owned(),
            node.port("redis")?.to_string(),
            "--bind".into(),
            node.bind_host.clone(),
            "--protected-mode".into(),
            "no".into(),
            "--dir".into(),
            node.data_dir.display().to_string(),
            // No snapshots: a restarted node resyncs from the primary.
            "--save".into(),
            String::new(),
            "--appendonly".into(),
            "no".into(),
            // A replica's full sync starts at once, not after 5 s.
            "--repl-diskless-sync-delay".into(),
            "0".into(),
        ];
        let primary = topology.group(&node.group)?[0]; // it holds `node`
        if primary.name != node.name {
            args.extend([
                "--replicaof".into(),
                primary.host.clone(),
                primary.port("redis")?.to_string(),
            ]);
        }
        Ok(NodeCommand::args(args))
    }

    fn client(&self, endpoint: &NodeEndpoint) -> Result<RedisClient, BoxError> {
        RedisClient::new(&endpoint.address_of("redis")?, Kind::Server)
    }

    /// It answers, and a replica's link to its primary is up.
    async fn ready(&self, client: &RedisClient) -> Result<(), BoxError> {
        let replication = client.replication().await?;
        if replication.role == "slave" && !replication.link_up {
            return Err(format!(
                "a replica whose link to {} is down",
                replication.primary.unwrap_or_default()
            )
            .into());
        }
        Ok(())
    }
}

/// Sentinels, watching the first node of group `watches` as the primary.
#[derive(Clone, Debug)]
pub struct Sentinel {
    /// The data nodes' group.
    pub watches: String,
    /// How many Sentinels must agree the primary is down.
    pub quorum: usize,
    /// How long the primary may not answer before a Sentinel thinks it down.
    pub down_after_ms: u64,
    /// The Sentinels' failover timeout.
    pub failover_timeout_ms: u64,
}

impl Default for Sentinel {
    fn default() -> Self {
        Sentinel {
            watches: "redis".into(),
            quorum: 2,
            down_after_ms: 1000,
            failover_timeout_ms: 5000,
        }
    }
}

#[async_trait]
impl Application for Sentinel {
    type Client = RedisClient;

    fn name(&self) -> &str {
        "redis-sentinel"
    }

    fn binary(&self) -> NodeBinary {
        redis_server()
    }

    fn ports(&self) -> Vec<PortSpec> {
        vec![PortSpec::tcp("sentinel")]
    }

    /// A Sentinel rewrites its configuration file as it learns, so the file
    /// goes into its data directory and `redis-server FILE --sentinel` runs.
    fn node_command(
        &self,
        node: &NodeSpec,
        topology: &[NodeSpec],
    ) -> Result<NodeCommand, BoxError> {
        let primary = *topology
            .group(&self.watches)?
            .first()
            .ok_or_else(|| format!("group `{}` has no data node to watch", self.watches))?;
        let config = format!(
            "port {port}\nbind {bind}\nprotected-mode no\ndir {dir}\n\
             sentinel resolve-hostnames yes\n\
             sentinel monitor {MASTER} {host} {primary_port} {quorum}\n\
             sentinel down-after-milliseconds {MASTER} {down}\n\
             sentinel failover-timeout {MASTER} {failover}\n\
             sentinel parallel-syncs {MASTER} 1\n",
            port = node.port("sentinel")?,
            bind = node.bind_host,
            dir = node.data_dir.display(),
            host = primary.host,
            primary_port = primary.port("redis")?,
            quorum = self.quorum,
            down = self.down_after_ms,
            failover = self.failover_timeout_ms,
        );
        let file = node.data_dir.join("sentinel.conf");
        Ok(
            NodeCommand::args([file.display().to_string(), "--sentinel".into()])
                .file("sentinel.conf", config),
        )
    }

    fn client(&self, endpoint: &NodeEndpoint) -> Result<RedisClient, BoxError> {
        RedisClient::new(&endpoint.address_of("sentinel")?, Kind::Sentinel)
    }

    /// It names a primary, and enough Sentinels know each other to elect
    /// another.
    async fn ready(&self, client: &RedisClient) -> Result<(), BoxError> {
        client.sentinel_primary(MASTER).await?.ok_or("no primary")?;
        client.quorum(MASTER).await
    }
}

/// A request that never reached a server certainly did not take effect;
/// an error reply (`READONLY` from a replica) neither; a timeout or a
/// broken connection may have.
fn kv_error((sent, error): (bool, redis::RedisError)) -> KvError {
    if sent && (error.is_io_error() || error.is_timeout() || error.is_connection_dropped()) {
        KvError::Indeterminate(error.to_string())
    } else {
        KvError::Refused(error.to_string())
    }
}

/// The framework's key-value workload, over `GET` and `SET`, routed to the
/// primary the Sentinels name.
#[async_trait]
impl KeyValueStore for RedisServer {
    async fn kv_read(&self, client: &RedisClient, key: &str) -> Result<Option<String>, KvError> {
        client.get(key).await.map_err(kv_error)
    }

    async fn kv_write(&self, client: &RedisClient, key: &str, value: &str) -> Result<(), KvError> {
        client.set(key, value).await.map_err(kv_error)
    }

    fn kv_route(&self, ctx: &RunContext<Self>, _: KvRequest) -> Option<String> {
        let ha = ctx.observer::<HaObserver>().ok()?;
        let latest = ha.latest_snapshot()?;
        latest.snapshot.agreed_primary().map(str::to_owned)
    }
}
