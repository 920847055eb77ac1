//! A client of one Redis server or Sentinel, on the `redis` crate: a new
//! connection per request, bounded by a timeout, so a killed or frozen
//! node costs a request its timeout and nothing more.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, RedisError};
use tf_core::BoxError;

/// What a node is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A data node: a primary or a replica.
    Server,
    /// A Sentinel.
    Sentinel,
}

/// A client of one node.
#[derive(Clone, Debug)]
pub struct RedisClient {
    /// `host:port`, as the framework reaches it.
    pub address: String,
    /// What it is.
    pub kind: Kind,
    client: redis::Client,
    timeout: Duration,
}

/// A server's replication, from `INFO replication`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Replication {
    /// `master` or `slave`.
    pub role: String,
    /// Its replication offset.
    pub offset: u64,
    /// A replica's primary, `host:port` as the replica knows it.
    pub primary: Option<String>,
    /// Whether a replica's link to its primary is up.
    pub link_up: bool,
}

impl RedisClient {
    /// A client of the node at `address`.
    pub fn new(address: &str, kind: Kind) -> Result<Self, BoxError> {
        Ok(RedisClient {
            address: address.to_owned(),
            kind,
            client: redis::Client::open(format!("redis://{address}/"))?,
            timeout: Duration::from_millis(800),
        })
    }

    async fn connect(&self) -> Result<MultiplexedConnection, RedisError> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        self.client
            .get_multiplexed_async_connection_with_config(&config)
            .await
    }

    /// Runs `command` on a fresh connection. `Err(None)`: no connection was
    /// made (the request never left); `Err(Some(_))`: it failed after.
    async fn query<T: redis::FromRedisValue>(
        &self,
        command: &redis::Cmd,
    ) -> Result<T, (bool, RedisError)> {
        let mut connection = self.connect().await.map_err(|e| (false, e))?;
        command
            .query_async(&mut connection)
            .await
            .map_err(|e| (true, e))
    }

    /// `PING`.
    pub async fn ping(&self) -> Result<(), BoxError> {
        let pong: String = self.query(&redis::cmd("PING")).await.map_err(|(_, e)| e)?;
        match pong.as_str() {
            "PONG" => Ok(()),
            other => Err(format!("PING answered {other:?}").into()),
        }
    }

    /// `INFO replication`, parsed.
    pub async fn replication(&self) -> Result<Replication, BoxError> {
        let info: String = self
            .query(redis::cmd("INFO").arg("replication"))
            .await
            .map_err(|(_, e)| e)?;
        let field = |name: &str| {
            info.lines()
                .find_map(|line| line.trim().strip_prefix(name)?.strip_prefix(':'))
                .map(str::to_owned)
        };
        let role = field("role").ok_or("INFO replication has no role")?;
        let offset = field("master_repl_offset")
            .and_then(|o| o.parse().ok())
            .unwrap_or_default();
        let primary = match (field("master_host"), field("master_port")) {
            (Some(host), Some(port)) => Some(format!("{host}:{port}")),
            _ => None,
        };
        Ok(Replication {
            link_up: field("master_link_status").as_deref() == Some("up"),
            role,
            offset,
            primary,
        })
    }

    /// The primary a Sentinel names for `master`, `host:port`; `None` when
    /// it monitors none by that name.
    pub async fn sentinel_primary(&self, master: &str) -> Result<Option<String>, BoxError> {
        let addr: Option<(String, u16)> = self
            .query(
                redis::cmd("SENTINEL")
                    .arg("get-master-addr-by-name")
                    .arg(master),
            )
            .await
            .map_err(|(_, e)| e)?;
        Ok(addr.map(|(host, port)| format!("{host}:{port}")))
    }

    /// `SENTINEL CKQUORUM`: whether enough Sentinels know each other to
    /// authorize a failover of `master`.
    pub async fn quorum(&self, master: &str) -> Result<(), BoxError> {
        let _: String = self
            .query(redis::cmd("SENTINEL").arg("ckquorum").arg(master))
            .await
            .map_err(|(_, e)| e)?;
        Ok(())
    }

    /// `GET key`.
    pub async fn get(&self, key: &str) -> Result<Option<String>, (bool, RedisError)> {
        self.query(redis::cmd("GET").arg(key)).await
    }

    /// `SET key value`.
    pub async fn set(&self, key: &str, value: &str) -> Result<(), (bool, RedisError)> {
        self.query(redis::cmd("SET").arg(key).arg(value)).await
    }
}
