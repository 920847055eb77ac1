//! Timing TCP connects: a fault on a link shows in the time a connect to
//! the receiver takes (a delay), or in none succeeding (a cut).

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::Rtt;

/// How long one connect may take before it counts as no answer.
pub const TIMEOUT: Duration = Duration::from_millis(800);
/// Connects a probe wants to time.
const ANSWERS: usize = 3;
/// Connects that get no answer before a probe gives up: one lost packet
/// on a lossy link is not a cut.
const LOSSES: usize = 2;

/// The median connect time to each target, probed in parallel, each
/// connect given `timeout`.
pub fn rtts(targets: &[SocketAddr], timeout: Duration) -> Vec<Rtt> {
    std::thread::scope(|scope| {
        let probes: Vec<_> = targets
            .iter()
            .map(|target| scope.spawn(move || rtt(*target, timeout)))
            .collect();
        probes
            .into_iter()
            .zip(targets)
            .map(|(probe, target)| {
                probe.join().unwrap_or(Rtt {
                    target: *target,
                    median: None,
                    lost: 0,
                })
            })
            .collect()
    })
}

/// The median of a few connects to `target`; `None` when
/// [`LOSSES`] connects got no answer within `timeout` and none did.
pub fn rtt(target: SocketAddr, timeout: Duration) -> Rtt {
    let mut times = Vec::with_capacity(ANSWERS);
    let mut lost = 0;
    while times.len() < ANSWERS && lost < LOSSES {
        let started = Instant::now();
        match TcpStream::connect_timeout(&target, timeout) {
            Ok(_) => times.push(started.elapsed()),
            Err(_) => lost += 1,
        }
    }
    times.sort();
    Rtt {
        target,
        median: times.get(times.len() / 2).copied(),
        lost,
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use super::*;

    #[test]
    fn a_listening_port_answers_and_a_closed_one_does_not() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let open = listener.local_addr().unwrap();
        drop(TcpListener::bind("127.0.0.1:0").unwrap());
        let closed = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let found = rtts(&[open, closed], TIMEOUT);
        assert!(found[0].median.is_some_and(|d| d < TIMEOUT), "{found:?}");
        assert_eq!(found[1].median, None);
        assert_eq!(found[1].describe(), "no answer");
    }
}
