//! Finding node processes from the outside, by their command line: what
//! tests (and a user who wonders) use to check that no node outlived a run.

use std::path::Path;
use std::time::{Duration, Instant};

/// Live processes whose command line names a node directory of `run_dir`
/// (`<run_dir>/node-N/...`), such as a node given its data directory; the
/// runner's own `--run-dir` does not count, and neither do zombies (their
/// command line is empty). Apps that pass no such path are not found this
/// way; use [`LocalCluster::pids`](crate::LocalCluster::pids) while the
/// cluster lives.
pub fn node_processes(run_dir: &Path) -> Vec<u32> {
    processes_naming(&run_dir.join("node-"))
}

/// Live processes whose command line contains `path` (a node's data
/// directory, say).
pub fn processes_naming(path: &Path) -> Vec<u32> {
    let needle = path.to_string_lossy().into_owned();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&needle))
        })
        .collect()
}

/// Waits until the number of [`node_processes`] satisfies `done`, up to
/// `limit`, and returns the last count.
pub fn wait_for_node_processes(
    run_dir: &Path,
    limit: Duration,
    done: impl Fn(usize) -> bool,
) -> usize {
    let deadline = Instant::now() + limit;
    loop {
        let n = node_processes(run_dir).len();
        if done(n) || Instant::now() > deadline {
            return n;
        }
        // Processes are OS state with no stream to wait on: poll /proc,
        // bounded by the deadline above.
        std::thread::sleep(Duration::from_millis(50));
    }
}
