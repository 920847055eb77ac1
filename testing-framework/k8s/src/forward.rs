//! How the runner reaches pods from outside the cluster: a listener on
//! 127.0.0.1 per node and port, each connection to it carried to the pod
//! through a port-forward of its own.
//!
//! The listener stays for the whole run, so a node's endpoint never
//! changes; the tunnel is made per connection, to whichever pod has the
//! node's name at that moment. A pod that restarts, or a tunnel that drops
//! with the network, costs the client one failed connection: its next one
//! gets a new tunnel. Nothing has to notice the drop and re-establish
//! anything, so nothing can forget to.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A byte stream to a pod's port.
pub trait Tunnel: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Tunnel for T {}

/// Opens tunnels to pods' ports.
#[async_trait]
pub trait PodDialer: Send + Sync + 'static {
    /// A new tunnel to `port` of pod `pod`, or why there is none (the pod
    /// is gone or not running).
    async fn dial(&self, pod: &str, port: u16) -> Result<Box<dyn Tunnel>, String>;
}

/// Tunnels through the API server's port-forward of a namespace's pods.
pub struct PortForwardDialer {
    pods: Api<Pod>,
}

impl PortForwardDialer {
    /// Tunnels to the pods of `namespace`.
    pub fn new(client: kube::Client, namespace: &str) -> Self {
        PortForwardDialer {
            pods: Api::namespaced(client, namespace),
        }
    }
}

#[async_trait]
impl PodDialer for PortForwardDialer {
    async fn dial(&self, pod: &str, port: u16) -> Result<Box<dyn Tunnel>, String> {
        let mut forward = self
            .pods
            .portforward(pod, &[port])
            .await
            .map_err(|e| format!("cannot port-forward to {pod}:{port}: {e}"))?;
        let stream = forward
            .take_stream(port)
            .ok_or_else(|| format!("the port-forward to {pod}:{port} gave no stream"))?;
        // The forward's task ends with the stream; reaped in the background.
        tokio::spawn(async move {
            if let Err(error) = forward.join().await {
                tracing::debug!(%error, "a port-forward ended with an error");
            }
        });
        Ok(Box::new(stream))
    }
}

/// How long the pod's side may go on after the client stopped sending.
const AFTER_CLIENT_EOF: std::time::Duration = std::time::Duration::from_secs(30);

/// Carries bytes both ways until the pod's side ends (or the tunnel
/// drops); the client then sees its connection close, as with a node that
/// went away. A client that only half-closes (done sending, still
/// reading) is not passed on as a close: kube's port-forward would end the
/// whole stream on it and the answer would be lost.
async fn carry(client: TcpStream, tunnel: Box<dyn Tunnel>) {
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_pod, mut to_pod) = tokio::io::split(tunnel);
    let up = async {
        let _ = tokio::io::copy(&mut from_client, &mut to_pod).await;
        // Keep the pod's way open for its answer, but not for ever: a
        // client that closed for good looks the same, and a node that
        // keeps idle connections would otherwise hold the tunnel.
        tokio::time::sleep(AFTER_CLIENT_EOF).await;
    };
    let down = async {
        let _ = tokio::io::copy(&mut from_pod, &mut to_client).await;
        let _ = to_client.shutdown().await;
    };
    tokio::select! {
        () = up => {}
        () = down => {}
    }
}

/// One node's port, reachable on 127.0.0.1 for as long as it lives.
pub struct Forward {
    /// The local port.
    pub local: u16,
    dialed: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl Forward {
    /// Listens on a free port of 127.0.0.1 and carries each connection to
    /// `port` of pod `pod` through a tunnel `dialer` opens for it.
    pub async fn start(dialer: Arc<dyn PodDialer>, pod: &str, port: u16) -> io::Result<Forward> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let local = listener.local_addr()?.port();
        let dialed = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let (pod, counts) = (pod.to_owned(), (Arc::clone(&dialed), Arc::clone(&failed)));
        let task = tokio::spawn(async move {
            loop {
                let client = match listener.accept().await {
                    Ok((client, _)) => client,
                    Err(error) => {
                        // Out of file descriptors, say: wait for some to
                        // be freed rather than spin.
                        tracing::warn!(%pod, port, %error, "cannot accept a connection");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let (dialer, pod) = (Arc::clone(&dialer), pod.clone());
                let (dialed, failed) = (Arc::clone(&counts.0), Arc::clone(&counts.1));
                tokio::spawn(async move {
                    match dialer.dial(&pod, port).await {
                        Ok(tunnel) => {
                            dialed.fetch_add(1, Ordering::Relaxed);
                            carry(client, tunnel).await;
                        }
                        Err(reason) => {
                            // Closing the connection is the answer: the
                            // client sees the node as unreachable.
                            failed.fetch_add(1, Ordering::Relaxed);
                            tracing::debug!(%pod, port, %reason, "no tunnel");
                        }
                    }
                });
            }
        });
        Ok(Forward {
            local,
            dialed,
            failed,
            task,
        })
    }

    /// Tunnels opened so far.
    pub fn tunnels(&self) -> u64 {
        self.dialed.load(Ordering::Relaxed)
    }

    /// Connections that got no tunnel so far.
    pub fn failures(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }
}

impl Drop for Forward {
    fn drop(&mut self) {
        self.task.abort();
    }
}
