//! The delay line on a netfilter queue: packets the fault's rules queue
//! are held until the [`DelayLine`] lets them go, then accepted.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::ErrorKind;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nfq::{Queue, Verdict};
use tf_core::fault::DelayLine;

/// Packets a queue may hold in the kernel before it drops more.
const MAX_QUEUED: u32 = 16_384;
/// The longest the loop sleeps: the release times' resolution.
const TICK: Duration = Duration::from_micros(500);
/// Bytes of each packet copied to us: enough for its length, which is all
/// the delay line needs.
const COPY: u16 = 64;

/// A delay line serving one queue until stopped.
pub struct Held {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Held {
    /// Binds queue `id` and serves it with `line`. The queue is bound when
    /// this returns, so rules may send packets to it.
    pub fn start(id: u16, mut line: DelayLine) -> Result<Held, String> {
        let failed = |what: &str, e: std::io::Error| {
            format!(
                "cannot {what} netfilter queue {id}: {e}; the kernel needs nfnetlink_queue, and the helper NET_ADMIN"
            )
        };
        let mut queue = Queue::open().map_err(|e| failed("open", e))?;
        queue.bind(id).map_err(|e| failed("bind", e))?;
        queue
            .set_copy_range(id, COPY)
            .map_err(|e| failed("set up", e))?;
        queue
            .set_queue_max_len(id, MAX_QUEUED)
            .map_err(|e| failed("size", e))?;
        // Offloaded segments are fine: they are only held, never changed.
        let _ = queue.set_recv_gso(id, true);
        queue.set_nonblocking(true);
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name(format!("queue-{id}"))
            .spawn(move || serve(&mut queue, &mut line, &stopping))
            .map_err(|e| format!("cannot start the delay line of queue {id}: {e}"))?;
        Ok(Held {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Held {
    /// Lets every held packet go and unbinds.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Waiting {
    at: Duration,
    seq: u64,
    message: nfq::Message,
}

impl PartialEq for Waiting {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Waiting {}
impl PartialOrd for Waiting {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Waiting {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

fn serve(queue: &mut Queue, line: &mut DelayLine, stop: &AtomicBool) {
    let origin = Instant::now();
    let mut held: BinaryHeap<Reverse<Waiting>> = BinaryHeap::new();
    let mut seq = 0u64;
    while !stop.load(Ordering::Relaxed) {
        loop {
            match queue.recv() {
                Ok(message) => {
                    let now = origin.elapsed();
                    let at = line.release(now, message.get_original_len());
                    seq += 1;
                    held.push(Reverse(Waiting { at, seq, message }));
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    eprintln!("tf-netfault: reading the queue failed: {e}");
                    break;
                }
            }
        }
        let now = origin.elapsed();
        while held.peek().is_some_and(|w| w.0.at <= now) {
            let Some(Reverse(waiting)) = held.pop() else {
                break;
            };
            accept(queue, waiting.message);
        }
        let next = held
            .peek()
            .map_or(TICK, |w| w.0.at.saturating_sub(origin.elapsed()));
        std::thread::sleep(next.min(TICK));
    }
    while let Some(Reverse(waiting)) = held.pop() {
        accept(queue, waiting.message);
    }
}

fn accept(queue: &mut Queue, mut message: nfq::Message) {
    message.set_verdict(Verdict::Accept);
    if let Err(e) = queue.verdict(message) {
        eprintln!("tf-netfault: releasing a packet failed: {e}");
    }
}
