//! The helper's main process: applies and removes faults on request, holds
//! their delay lines, and answers one JSON line per connection.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::Ipv4Addr;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use tf_core::fault::LinkFault;

use crate::queue::Held;
use crate::{Request, Response, probe, rules};

/// The iptables the helper runs; `TF_NETFAULT_IPTABLES` overrides it.
fn iptables() -> String {
    std::env::var("TF_NETFAULT_IPTABLES").unwrap_or_else(|_| "/usr/sbin/iptables".into())
}

/// A fault in force.
struct Active {
    to: Vec<Ipv4Addr>,
    /// Its delay line, when it holds packets.
    _held: Option<Held>,
}

/// The faults in force in this network namespace.
#[derive(Default)]
pub struct Agent {
    active: HashMap<u16, Active>,
}

impl Agent {
    /// Serves requests on `socket` until the process ends.
    pub fn serve(mut self, socket: &Path) -> std::io::Result<()> {
        let _ = std::fs::remove_file(socket);
        let listener = UnixListener::bind(socket)?;
        for stream in listener.incoming() {
            match stream {
                Ok(stream) => {
                    if let Err(e) = self.answer(stream) {
                        eprintln!("tf-netfault: a request failed: {e}");
                    }
                }
                Err(e) => eprintln!("tf-netfault: accept failed: {e}"),
            }
        }
        Ok(())
    }

    fn answer(&mut self, stream: UnixStream) -> std::io::Result<()> {
        let mut line = String::new();
        BufReader::new(&stream).read_line(&mut line)?;
        let response = match serde_json::from_str::<Request>(&line) {
            Ok(request) => self.handle(request),
            Err(e) => Response::Error {
                message: format!("not a request: {e}"),
            },
        };
        let mut text = serde_json::to_string(&response).map_err(std::io::Error::other)?;
        text.push('\n');
        (&stream).write_all(text.as_bytes())
    }

    /// Does what `request` asks.
    pub fn handle(&mut self, request: Request) -> Response {
        match request {
            Request::Apply {
                id,
                to,
                fault,
                seed,
            } => match self.apply(id, to, &fault, seed) {
                Ok(()) => Response::Applied,
                Err(message) => Response::Error { message },
            },
            Request::Remove { id } => match self.remove(id) {
                Ok(counters) => Response::Removed { counters },
                Err(message) => Response::Error { message },
            },
            Request::Fence { subnet } => match fence(&subnet) {
                Ok(()) => Response::Applied,
                Err(message) => Response::Error { message },
            },
            Request::Probe { targets, timeout } => Response::Probed {
                rtts: probe::rtts(&targets, timeout.unwrap_or(probe::TIMEOUT)),
            },
        }
    }

    fn apply(
        &mut self,
        id: u16,
        to: Vec<Ipv4Addr>,
        fault: &LinkFault,
        seed: u64,
    ) -> Result<(), String> {
        if self.active.contains_key(&id) {
            return Err(format!("fault {id} is in force already"));
        }
        fault.check()?;
        if to.is_empty() {
            return Err("a fault needs at least one receiver".into());
        }
        let held = if fault.holds_packets() {
            Some(Held::start(id, fault.delay_line(seed))?)
        } else {
            None
        };
        for command in rules::apply(id, &to, fault) {
            if let Err(error) = run(&command) {
                for undo in rules::remove(id, &to) {
                    let _ = run(&undo);
                }
                return Err(error);
            }
        }
        self.active.insert(id, Active { to, _held: held });
        Ok(())
    }

    fn remove(&mut self, id: u16) -> Result<crate::Counters, String> {
        let Some(active) = self.active.remove(&id) else {
            return Ok(crate::Counters::default());
        };
        let listing = run(&rules::list()).unwrap_or_default();
        let mut failed = Vec::new();
        for command in rules::remove(id, &active.to) {
            if let Err(error) = run(&command) {
                failed.push(error);
            }
        }
        // Dropping `active` lets its held packets go.
        drop(active);
        if failed.is_empty() {
            Ok(rules::counters(id, &listing))
        } else {
            Err(format!(
                "fault {id} may be partly in force still: {}",
                failed.join("; ")
            ))
        }
    }

    /// Removes every fault (the helper is going away).
    pub fn clear(&mut self) {
        let ids: Vec<u16> = self.active.keys().copied().collect();
        for id in ids {
            let _ = self.remove(id);
        }
    }
}

/// Puts up the fence off `subnet` unless it is up already.
fn fence(subnet: &str) -> Result<(), String> {
    let [check, put] = rules::fence(subnet)?;
    if run(&check).is_ok() {
        return Ok(());
    }
    run(&put).map(drop)
}

/// Runs iptables with `args`; its output, or what it said when it failed.
fn run(args: &[String]) -> Result<String, String> {
    let iptables = iptables();
    // The nft backend takes no lock, so a busy table gets a short retry.
    let started = Instant::now();
    loop {
        let output = Command::new(&iptables)
            .args(args)
            .output()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => format!(
                    "the helper has no iptables ({iptables}): link faults need iptables on the runner's machine, which the helper image carries; install it (apt install iptables) and run again"
                ),
                _ => format!("cannot run {iptables}: {e}"),
            })?;
        if output.status.success() {
            return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
        }
        let said = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        let busy = said.contains("Resource temporarily unavailable");
        if !busy || started.elapsed() > Duration::from_secs(2) {
            return Err(format!("iptables {} failed: {said}", args.join(" ")));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `request` to the agent at `socket`, waiting up to `wait` for it
/// to listen; its answer.
pub fn ctl(socket: &Path, request: &str, wait: Duration) -> Result<String, String> {
    let started = Instant::now();
    let stream = loop {
        match UnixStream::connect(socket) {
            Ok(stream) => break stream,
            Err(e) if started.elapsed() < wait => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => {
                return Err(format!(
                    "the agent does not listen at {}: {e}",
                    socket.display()
                ));
            }
        }
    };
    let mut line = request.trim_end().to_owned();
    line.push('\n');
    (&stream)
        .write_all(line.as_bytes())
        .map_err(|e| format!("cannot send the request: {e}"))?;
    let mut answer = String::new();
    BufReader::new(&stream)
        .read_line(&mut answer)
        .map_err(|e| format!("no answer from the agent: {e}"))?;
    Ok(answer)
}
