//! Timing TCP connects: a fault on a link shows in the time a connect to
//! the receiver takes (a delay), or in none succeeding (a cut).

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::Rtt;

/// How long one connect may take before it counts as no answer.
pub const TIMEOUT: Duration = Duration::from_millis(800);
/// Connects a probe makes; the first that gets no answer ends it.
const ATTEMPTS: usize = 5;

/// The median connect time to each target, probed in parallel.
pub fn rtts(targets: &[SocketAddr]) -> Vec<Rtt> {
    std::thread::scope(|scope| {
        let probes: Vec<_> = targets
            .iter()
            .map(|target| scope.spawn(move || rtt(*target)))
            .collect();
        probes
            .into_iter()
            .zip(targets)
            .map(|(probe, target)| {
                probe.join().unwrap_or(Rtt {
                    target: *target,
                    median: None,
                })
            })
            .collect()
    })
}

/// The median of a few connects to `target`; `None` at the first that
/// gets no answer in time.
pub fn rtt(target: SocketAddr) -> Rtt {
    let mut times = Vec::with_capacity(ATTEMPTS);
    for _ in 0..ATTEMPTS {
        let started = Instant::now();
        match TcpStream::connect_timeout(&target, TIMEOUT) {
            Ok(_) => times.push(started.elapsed()),
            Err(_) => {
                return Rtt {
                    target,
                    median: None,
                };
            }
        }
    }
    times.sort();
    Rtt {
        target,
        median: Some(times[times.len() / 2]),
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
        let found = rtts(&[open, closed]);
        assert!(found[0].median.is_some_and(|d| d < TIMEOUT), "{found:?}");
        assert_eq!(found[1].median, None);
        assert_eq!(found[1].describe(), "no answer");
    }
}
