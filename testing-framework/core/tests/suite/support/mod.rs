//! A scriptable cluster for runtime tests: nodes whose answers, failures and
//! hangs the test controls, an observer that can be told to fail, hang or
//! panic, and a provider whose source set can change between cycles.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tf_core::BoxError;
use tf_core::observation::{ObservedSource, Observer, SourceProvider, SourceSet, Sources};
use tokio::sync::watch;

/// One simulated node.
#[derive(Debug, Default)]
pub struct Node {
    pub height: AtomicU64,
    pub fail: AtomicBool,
    pub hang: AtomicBool,
    /// Answers this many milliseconds after reading its height.
    pub delay_ms: AtomicU64,
}

impl Node {
    pub fn set_height(&self, height: u64) {
        self.height.store(height, Ordering::SeqCst);
    }

    async fn read_height(&self) -> Result<u64, BoxError> {
        if self.hang.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if self.fail.load(Ordering::SeqCst) {
            return Err("connection refused".into());
        }
        let height = self.height.load(Ordering::SeqCst);
        let delay = self.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        Ok(height)
    }
}

pub type NodeRef = Arc<Node>;

pub fn node() -> NodeRef {
    Arc::new(Node::default())
}

pub fn source_set(nodes: &[(&str, &NodeRef)]) -> SourceSet<NodeRef> {
    nodes
        .iter()
        .map(|(name, node)| ObservedSource::new(*name, Arc::clone(node)))
        .collect()
}

/// What the test tells the observer to do, and what it counts.
#[derive(Debug)]
pub struct Controls {
    pub fail_poll: AtomicBool,
    /// The next this-many polls hang forever.
    pub hang_polls: AtomicU64,
    /// The next this-many polls panic.
    pub panic_polls: AtomicU64,
    pub panic_snapshot: AtomicBool,
    pub fail_init: AtomicBool,
    /// The next this-many inits hang forever.
    pub hang_inits: AtomicU64,
    /// The next this-many inits panic.
    pub panic_inits: AtomicU64,
    /// Polls after this many attempts fail, so publication stops.
    pub publish_up_to: AtomicU64,
    pub inits: AtomicU64,
    /// Poll attempts, successful or not; tests wait on it.
    pub attempts: watch::Sender<u64>,
    /// Fires when the observer is dropped.
    pub dropped: watch::Sender<bool>,
}

impl Controls {
    pub fn new() -> Arc<Self> {
        Arc::new(Controls {
            fail_poll: AtomicBool::new(false),
            hang_polls: AtomicU64::new(0),
            panic_polls: AtomicU64::new(0),
            panic_snapshot: AtomicBool::new(false),
            fail_init: AtomicBool::new(false),
            hang_inits: AtomicU64::new(0),
            panic_inits: AtomicU64::new(0),
            publish_up_to: AtomicU64::new(u64::MAX),
            inits: AtomicU64::new(0),
            attempts: watch::channel(0).0,
            dropped: watch::channel(false).0,
        })
    }

    /// Waits (with a deadline) until at least `n` polls were attempted.
    pub async fn until_attempts(&self, n: u64) {
        let mut rx = self.attempts.subscribe();
        tokio::time::timeout(Duration::from_secs(60), rx.wait_for(|a| *a >= n))
            .await
            .unwrap_or_else(|_| panic!("fewer than {n} polls were attempted within 60s"))
            .unwrap();
    }

    pub fn attempts(&self) -> u64 {
        *self.attempts.borrow()
    }
}

fn take_one(counter: &AtomicU64) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

/// Heights of every node, by name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Heights {
    pub heights: BTreeMap<String, u64>,
    /// Successful polls since the last init.
    pub polls: u64,
    /// Which init this state came from (1 = the first).
    pub generation: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum HeightEvent {
    Grew { node: String, height: u64 },
}

pub struct HeightObserver {
    pub controls: Arc<Controls>,
    pub keep_state_after_interrupt: bool,
}

impl HeightObserver {
    pub fn new(controls: &Arc<Controls>) -> Self {
        HeightObserver {
            controls: Arc::clone(controls),
            keep_state_after_interrupt: false,
        }
    }
}

impl Drop for HeightObserver {
    fn drop(&mut self) {
        self.controls.dropped.send_replace(true);
    }
}

#[async_trait::async_trait]
impl Observer for HeightObserver {
    type Source = NodeRef;
    type State = Heights;
    type Snapshot = Heights;
    type Event = HeightEvent;

    async fn init(&self, _sources: &Sources<'_, NodeRef>) -> Result<Heights, BoxError> {
        if take_one(&self.controls.hang_inits) {
            std::future::pending::<()>().await;
        }
        if take_one(&self.controls.panic_inits) {
            panic!("scripted panic in init");
        }
        if self.controls.fail_init.load(Ordering::SeqCst) {
            return Err("scripted init failure".into());
        }
        let generation = self.controls.inits.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(Heights {
            generation,
            ..Heights::default()
        })
    }

    async fn poll(
        &self,
        sources: &Sources<'_, NodeRef>,
        state: &mut Heights,
    ) -> Result<Vec<HeightEvent>, BoxError> {
        let mut attempt = 0;
        self.controls.attempts.send_modify(|a| {
            *a += 1;
            attempt = *a;
        });
        if attempt > self.controls.publish_up_to.load(Ordering::SeqCst) {
            return Err("publication cap reached".into());
        }
        if take_one(&self.controls.hang_polls) {
            std::future::pending::<()>().await;
        }
        if take_one(&self.controls.panic_polls) {
            state.heights.insert("half-updated".into(), 0);
            panic!("scripted panic in poll");
        }
        if self.controls.fail_poll.load(Ordering::SeqCst) {
            return Err("scripted poll failure".into());
        }
        let mut events = Vec::new();
        let current: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
        state
            .heights
            .retain(|name, _| current.contains(&name.as_str()));
        for polled in sources.poll_each(|s| s.source.read_height()).await {
            if let Ok(height) = polled.result {
                let name = polled.source.name.to_string();
                if state.heights.insert(name.clone(), height) != Some(height) {
                    events.push(HeightEvent::Grew { node: name, height });
                }
            }
        }
        state.polls += 1;
        Ok(events)
    }

    fn snapshot(&self, state: &Heights) -> Heights {
        if self.controls.panic_snapshot.swap(false, Ordering::SeqCst) {
            panic!("scripted panic in snapshot");
        }
        state.clone()
    }

    fn keep_state_after_interrupt(&self, _state: &Heights) -> bool {
        self.keep_state_after_interrupt
    }
}

/// A provider whose set, failures and hangs the test controls.
pub struct TestProvider {
    pub set: Mutex<SourceSet<NodeRef>>,
    pub fail: AtomicBool,
    pub hang: AtomicBool,
    pub panic: AtomicBool,
}

impl TestProvider {
    pub fn new(set: SourceSet<NodeRef>) -> Arc<Self> {
        Arc::new(TestProvider {
            set: Mutex::new(set),
            fail: AtomicBool::new(false),
            hang: AtomicBool::new(false),
            panic: AtomicBool::new(false),
        })
    }

    pub fn replace(&self, set: SourceSet<NodeRef>) {
        *self.set.lock() = set;
    }
}

/// Shares one provider between the runtime and the test.
pub struct SharedProvider(pub Arc<TestProvider>);

#[async_trait::async_trait]
impl SourceProvider<NodeRef> for SharedProvider {
    async fn sources(&self) -> Result<SourceSet<NodeRef>, BoxError> {
        if self.0.hang.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if self.0.panic.swap(false, Ordering::SeqCst) {
            panic!("scripted panic in sources()");
        }
        if self.0.fail.load(Ordering::SeqCst) {
            return Err("node registry unavailable".into());
        }
        Ok(self.0.set.lock().clone())
    }
}

/// The next item of `stream`, or a panic if none comes within 30 s (so a
/// broken subscription fails the test instead of hanging it).
pub async fn next_within<S: futures::Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    use futures::StreamExt;
    tokio::time::timeout(Duration::from_secs(30), stream.next())
        .await
        .expect("no item (and no end of stream) within 30s")
}
