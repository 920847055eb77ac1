//! The delay line's accuracy and cost, measured on this machine's kernel:
//! the bench moves itself into a network namespace of its own (root
//! needed), puts a fault on its loopback traffic to 127.0.0.2 with the
//! agent, and sends timestamped UDP packets through it. Printed as Markdown
//! rows for the performance page (guide/src/performance.md). Run: `cargo bench -p tf-netfault --bench delayer`.

use std::net::{Ipv4Addr, UdpSocket};
use std::time::{Duration, Instant};

use tf_core::fault::LinkFault;
use tf_netfault::agent::Agent;
use tf_netfault::{Request, Response};

const TO: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    if let Err(why) = isolate() {
        println!("delayer bench skipped: {why}");
        return;
    }
    let seconds = if quick { 1 } else { 5 };
    println!("| measurement | value |");
    println!("|---|---|");
    let mut agent = Agent::default();
    for (set, jitter) in [(50, 0), (50, 10)] {
        let fault =
            LinkFault::delay(Duration::from_millis(set)).jitter(Duration::from_millis(jitter));
        apply(&mut agent, 1, &fault);
        let delays = send(1_000, Duration::from_secs(seconds));
        remove(&mut agent, 1);
        let (p50, p99) = (percentile(&delays, 0.50), percentile(&delays, 0.99));
        println!(
            "| {fault} set: measured p50 / p99 ({} packets at 1,000/s) | {:.2} ms / {:.2} ms |",
            delays.len(),
            ms(p50),
            ms(p99)
        );
    }
    // Cost: the same 10,000 packets a second through the delay line and
    // without it; the difference is the line's (and its queue's) CPU.
    let window = Duration::from_secs(seconds.max(2));
    apply(&mut agent, 2, &LinkFault::delay(Duration::from_millis(50)));
    let idle = thread_cpu("queue-2");
    let delays = send(10_000, window);
    let busy = thread_cpu("queue-2") - idle;
    remove(&mut agent, 2);
    println!(
        "| CPU of the delay line's thread at 10,000 packets/s (50 ms, {} packets) | {:.1} % of a core |",
        delays.len(),
        busy.as_secs_f64() / window.as_secs_f64() * 100.0
    );
    // Loss: the rule's share against the setting.
    apply(&mut agent, 3, &LinkFault::default().loss(10.0));
    let got = send(1_000, Duration::from_secs(seconds)).len();
    let sent = 1_000 * seconds as usize;
    remove(&mut agent, 3);
    println!(
        "| 10 % loss set: measured | {:.1} % of {sent} packets |",
        100.0 - got as f64 * 100.0 / sent as f64
    );
    if quick {
        println!(
            "\n(smoke run: 1 s samples; `cargo bench -p tf-netfault --bench delayer` measures)"
        );
    }
}

/// A network namespace of our own with its loopback up, so that nothing
/// here touches the machine's own traffic.
fn isolate() -> Result<(), String> {
    // SAFETY: plain syscalls on this thread; the bench is single-threaded
    // until the agent starts its delay lines, after this.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNET) != 0 {
            return Err(format!(
                "cannot make a network namespace ({}); run as root",
                std::io::Error::last_os_error()
            ));
        }
        let socket = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
        if socket < 0 {
            return Err("cannot open a socket".into());
        }
        let mut request: libc::ifreq = std::mem::zeroed();
        for (i, b) in b"lo\0".iter().enumerate() {
            request.ifr_name[i] = *b as libc::c_char;
        }
        request.ifr_ifru.ifru_flags = libc::IFF_UP as libc::c_short;
        let up = libc::ioctl(socket, libc::SIOCSIFFLAGS, &request);
        libc::close(socket);
        if up != 0 {
            return Err(format!(
                "cannot bring the loopback up: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    if !std::path::Path::new("/usr/sbin/iptables").exists() {
        return Err("iptables is not installed".into());
    }
    Ok(())
}

fn apply(agent: &mut Agent, id: u16, fault: &LinkFault) {
    let request = Request::Apply {
        id,
        to: vec![TO],
        fault: fault.clone(),
        seed: 1,
    };
    match agent.handle(request) {
        Response::Applied => {}
        other => panic!("applying {fault}: {other:?}"),
    }
}

fn remove(agent: &mut Agent, id: u16) {
    match agent.handle(Request::Remove { id }) {
        Response::Removed { .. } => {}
        other => panic!("removing fault {id}: {other:?}"),
    }
}

/// Sends `rate` packets a second for `window` to 127.0.0.2; the one-way
/// delay of each that arrived.
fn send(rate: u32, window: Duration) -> Vec<Duration> {
    let receiver = UdpSocket::bind((TO, 0)).unwrap();
    receiver
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let target = receiver.local_addr().unwrap();
    let origin = Instant::now();
    let reader = std::thread::spawn(move || {
        let mut delays = Vec::new();
        let mut buffer = [0u8; 16];
        let mut quiet_since = None;
        loop {
            match receiver.recv(&mut buffer) {
                Ok(8..) => {
                    let sent = u64::from_le_bytes(buffer[..8].try_into().unwrap());
                    delays.push(origin.elapsed() - Duration::from_nanos(sent));
                    quiet_since = None;
                }
                Ok(_) => {}
                Err(_) => {
                    let since = *quiet_since.get_or_insert_with(Instant::now);
                    // Everything sent is in flight for at most a second.
                    if origin.elapsed() > window && since.elapsed() > Duration::from_secs(1) {
                        return delays;
                    }
                }
            }
        }
    });
    let sender = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let every = Duration::from_secs(1) / rate;
    let count = (window.as_secs_f64() * f64::from(rate)) as u64;
    for i in 0..count {
        let due = every * i as u32;
        if let Some(wait) = due.checked_sub(origin.elapsed()) {
            std::thread::sleep(wait);
        }
        let now = origin.elapsed().as_nanos() as u64;
        let _ = sender.send_to(&now.to_le_bytes(), target);
    }
    reader.join().unwrap()
}

/// The CPU time (user and system) of this process's thread named `name`
/// so far, from `/proc`.
fn thread_cpu(name: &str) -> Duration {
    // SAFETY: sysconf reads a constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let tasks = std::fs::read_dir("/proc/self/task").unwrap();
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() != name {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // Fields after the command's closing parenthesis: utime is the
        // 12th, stime the 13th.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
        let fields: Vec<f64> = rest
            .split_whitespace()
            .map(|f| f.parse().unwrap_or(0.0))
            .collect();
        if fields.len() > 12 {
            return Duration::from_secs_f64((fields[11] + fields[12]) / ticks);
        }
    }
    panic!("no thread named {name}")
}

fn percentile(delays: &[Duration], p: f64) -> Duration {
    let mut sorted = delays.to_vec();
    sorted.sort();
    sorted
        .get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
