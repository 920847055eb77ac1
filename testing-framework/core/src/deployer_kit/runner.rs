//! Which runner a run belongs to (`4242@hostname`), so that a sweep of
//! leftovers leaves alone the runs of a runner still at work.

/// This process, as a run's runner label or annotation names it.
pub fn this_runner() -> String {
    format!("{}@{}", std::process::id(), hostname())
}

/// The machine's host name, or `localhost`.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into())
}

/// Whether the runner named by a [`this_runner`] value is alive: on this
/// host with its process still there. A runner on another host counts as
/// alive (this machine cannot tell).
pub fn runner_alive(runner: &str) -> bool {
    let Some((pid, host)) = runner.split_once('@') else {
        return false;
    };
    if host != hostname() {
        return true;
    }
    pid.parse::<u32>()
        .is_ok_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_runner_is_alive_and_a_gone_one_is_not() {
        assert!(runner_alive(&this_runner()));
        let host = this_runner().split_once('@').unwrap().1.to_owned();
        assert!(!runner_alive(&format!("{}@{host}", u32::MAX)));
        assert!(runner_alive("1@another-machine"));
        assert!(!runner_alive("garbage"));
    }
}
