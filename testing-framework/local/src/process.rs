//! One node as a local process: spawn, watch its exit, stop and kill.

use std::fs::OpenOptions;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use parking_lot::Mutex;
use tf_core::deployer_kit::Stopped;
use tf_core::deployer_kit::clock::NodeClock;
use tf_core::report::NodeExit;
use tf_core::scenario::NodeCommand;
use tokio::sync::watch;

#[derive(Default)]
struct ProcessState {
    pid: Option<u32>,
    /// Set while an exit is being asked for, so it is not reported as a crash.
    expecting_exit: bool,
    /// Frozen by SIGSTOP.
    paused: bool,
}

/// A node process, started and restarted with the same command.
pub(crate) struct NodeProcess {
    pub(crate) name: String,
    binary: PathBuf,
    command: NodeCommand,
    pub(crate) log: PathBuf,
    /// Its clock, when it runs under libfaketime.
    pub(crate) clock: Option<NodeClock>,
    /// The running process's id and whether its exit was asked for, under
    /// one lock so that a signal and an exit cannot interleave.
    state: Mutex<ProcessState>,
    /// The running process's id, for waiting on exits; `None` while it is
    /// not running.
    pid: watch::Sender<Option<u32>>,
    /// Shared by the cluster: exits nobody asked for.
    crashes: Arc<watch::Sender<Vec<NodeExit>>>,
}

impl NodeProcess {
    pub(crate) fn new(
        name: String,
        binary: PathBuf,
        command: NodeCommand,
        log: PathBuf,
        clock: Option<NodeClock>,
        crashes: Arc<watch::Sender<Vec<NodeExit>>>,
    ) -> Arc<Self> {
        Arc::new(NodeProcess {
            name,
            binary,
            command,
            log,
            clock,
            state: Mutex::new(ProcessState::default()),
            pid: watch::channel(None).0,
            crashes,
        })
    }

    pub(crate) fn pid(&self) -> Option<u32> {
        self.state.lock().pid
    }

    /// Starts the process, appending its output to the node's log.
    pub(crate) fn spawn(self: &Arc<Self>) -> Result<(), String> {
        // Held across the spawn: two concurrent starts cannot both launch.
        let mut state = self.state.lock();
        if state.pid.is_some() {
            return Err("it is already running".into());
        }
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| format!("cannot open its log {}: {e}", self.log.display()))?;
        let log_err = log.try_clone().map_err(|e| e.to_string())?;
        if let Some(clock) = &self.clock {
            clock
                .starting()
                .map_err(|e| format!("cannot write its clock {}: {e}", clock.file().display()))?;
        }
        let mut command = tokio::process::Command::new(&self.binary);
        command
            .args(&self.command.args)
            .envs(self.command.env.iter().cloned())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            // Its own process group: a Ctrl-C in the terminal reaches the
            // runner, which then stops nodes in order.
            .process_group(0)
            .kill_on_drop(true);
        // SAFETY: the closure only calls prctl, which is async-signal-safe.
        unsafe {
            command.pre_exec(|| {
                // If the runner dies without cleaning up (even SIGKILL), the
                // node dies with it. Linux ties this to the spawning thread:
                // spawns happen on the async runtime's threads, which live
                // as long as the runtime.
                nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)
            });
        }
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot execute {}: {e}", self.binary.display()))?;
        let Some(pid) = child.id() else {
            return Err("it exited at once".into());
        };
        *state = ProcessState {
            pid: Some(pid),
            expecting_exit: false,
            paused: false,
        };
        drop(state);
        self.pid.send_replace(Some(pid));
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let status = child.wait().await;
            this.exited(status);
        });
        Ok(())
    }

    fn exited(&self, status: std::io::Result<ExitStatus>) {
        let expected = std::mem::take(&mut *self.state.lock()).expecting_exit;
        if !expected {
            let exit = NodeExit {
                node: self.name.clone(),
                status: describe(status),
                at: SystemTime::now(),
                log_tail: tf_core::deployer_kit::log_tail(&self.log),
            };
            tracing::warn!(node = %exit.node, status = %exit.status, "node exited on its own");
            self.crashes.send_modify(|crashes| crashes.push(exit));
        }
        self.pid.send_replace(None);
    }

    /// Sends `signal`, marking the exit as asked for; false if the process
    /// had already exited (its exit, if unasked, stays a crash).
    fn signal(&self, signal: Signal) -> bool {
        let mut state = self.state.lock();
        let Some(pid) = state.pid else { return false };
        // Under the lock: the exit handler clears the pid under it too, so
        // the pid (and so the group, whose id it is) is still ours.
        // The node's whole process group: a node started through a wrapper
        // script is stopped, killed or frozen with its children.
        let sent = killpg(Pid::from_raw(pid as i32), signal).is_ok();
        state.expecting_exit |= sent;
        // A frozen process acts on SIGTERM only once thawed.
        if sent && state.paused {
            let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGCONT);
            state.paused = false;
        }
        sent
    }

    /// Freezes the process (SIGSTOP): its sockets stay open, so peers and
    /// the observer connect but get no answer.
    pub(crate) fn pause(&self) -> Result<(), String> {
        self.freeze(true)
    }

    /// Thaws a frozen process (SIGCONT).
    pub(crate) fn resume(&self) -> Result<(), String> {
        self.freeze(false)
    }

    fn freeze(&self, pause: bool) -> Result<(), String> {
        let mut state = self.state.lock();
        let Some(pid) = state.pid else {
            return Err("it is not running".into());
        };
        if state.paused == pause {
            return Err(if pause {
                "it is already paused"
            } else {
                "it is not paused"
            }
            .into());
        }
        let signal = if pause {
            Signal::SIGSTOP
        } else {
            Signal::SIGCONT
        };
        killpg(Pid::from_raw(pid as i32), signal).map_err(|e| format!("{signal} failed: {e}"))?;
        state.paused = pause;
        Ok(())
    }

    /// Waits up to `limit` for the process to be gone.
    async fn gone_within(&self, limit: Duration) -> bool {
        let mut pid = self.pid.subscribe();
        tokio::time::timeout(limit, pid.wait_for(Option::is_none))
            .await
            .is_ok()
    }

    /// SIGTERM, then SIGKILL after `grace`, and waits until it is gone.
    pub(crate) async fn stop(&self, grace: Duration) -> Result<Stopped, String> {
        self.signal(Signal::SIGTERM);
        if self.gone_within(grace).await {
            return Ok(Stopped::Gracefully);
        }
        self.kill().await.map(|()| Stopped::Killed)
    }

    /// SIGKILL, and waits until it is gone.
    pub(crate) async fn kill(&self) -> Result<(), String> {
        self.signal(Signal::SIGKILL);
        // Wait even if the signal found it already dead: its exit may still
        // be in flight, and a restart must not race it.
        if self.gone_within(Duration::from_secs(10)).await {
            Ok(())
        } else {
            Err("it is still running 10s after SIGKILL".into())
        }
    }

    /// SIGKILL without waiting: for drops and panics.
    pub(crate) fn kill_now(&self) {
        self.signal(Signal::SIGKILL);
    }
}

fn describe(status: std::io::Result<ExitStatus>) -> String {
    match status {
        Ok(status) => match (status.code(), status.signal()) {
            (Some(code), _) => format!("exit code {code}"),
            (None, Some(signal)) => match Signal::try_from(signal) {
                Ok(signal) => format!("killed by {signal}"),
                Err(_) => format!("killed by signal {signal}"),
            },
            _ => status.to_string(),
        },
        Err(error) => format!("unknown ({error})"),
    }
}
