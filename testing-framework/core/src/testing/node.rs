//! An in-memory node: a height that grows while it is up.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;
use tokio::sync::watch;

use crate::observation::error::BoxError;

/// One in-memory node. Its client is the node itself (`Arc<FakeNode>`).
#[derive(Debug, Default)]
pub struct FakeNode {
    name: String,
    up: AtomicBool,
    height: AtomicU64,
    /// While true, every [`height`](Self::height) call hangs, as a frozen
    /// process's socket does.
    paused: watch::Sender<bool>,
    /// Cut off from the rest by a partition: it answers, but its height
    /// stands still (a minority that cannot make progress).
    cut: AtomicBool,
}

impl FakeNode {
    pub(crate) fn new(name: String) -> Arc<Self> {
        Arc::new(FakeNode {
            name,
            up: AtomicBool::new(true),
            ..FakeNode::default()
        })
    }

    /// Its name (`node-0`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether it is running (paused counts as running).
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::SeqCst)
    }

    /// Whether it is paused.
    pub fn is_paused(&self) -> bool {
        *self.paused.borrow()
    }

    /// Whether a partition cuts it off from the rest.
    pub fn is_cut(&self) -> bool {
        self.cut.load(Ordering::SeqCst)
    }

    /// Its height now, without the network's failure modes.
    pub fn current_height(&self) -> u64 {
        self.height.load(Ordering::SeqCst)
    }

    /// Sets its height.
    pub fn set_height(&self, height: u64) {
        self.height.store(height, Ordering::SeqCst);
    }

    /// What a client call sees: the height while up, a refusal while down,
    /// and no answer at all while paused.
    pub async fn height(&self) -> Result<u64, BoxError> {
        let mut paused = self.paused.subscribe();
        let _ = paused.wait_for(|p| !*p).await;
        if self.is_up() {
            Ok(self.current_height())
        } else {
            Err(Box::new(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                format!("{}: connection refused", self.name),
            )))
        }
    }

    pub(crate) fn tick(&self) {
        if self.is_up() && !self.is_paused() && !self.is_cut() {
            self.height.fetch_add(1, Ordering::SeqCst);
        }
    }

    pub(crate) fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
        if !up {
            self.paused.send_replace(false);
        }
    }

    pub(crate) fn set_cut(&self, cut: bool) {
        self.cut.store(cut, Ordering::SeqCst);
    }

    pub(crate) fn set_paused(&self, paused: bool) {
        self.paused.send_replace(paused);
    }
}

/// Every deployed fake node, by endpoint address, so that an app's
/// `client(endpoint)` finds its node. Addresses are unique per deploy.
pub struct FakeNodes;

static NODES: std::sync::LazyLock<Mutex<HashMap<String, Arc<FakeNode>>>> =
    std::sync::LazyLock::new(Default::default);

impl FakeNodes {
    pub(crate) fn insert(address: String, node: Arc<FakeNode>) {
        NODES.lock().insert(address, node);
    }

    pub(crate) fn remove(address: &str) {
        NODES.lock().remove(address);
    }

    /// The node at `address`; an address nothing was deployed at (or whose
    /// cluster was cleaned up) is a down node, so a wrong address fails
    /// like a refused connection.
    pub fn get(address: &str) -> Arc<FakeNode> {
        NODES.lock().get(address).cloned().unwrap_or_else(|| {
            let node = FakeNode::new(address.to_owned());
            node.set_up(false);
            node
        })
    }
}
