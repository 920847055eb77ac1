//! One node's container: started and stopped through the engine, its
//! output appended to the node's log, its exits watched.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::query_parameters::{
    AttachContainerOptions, KillContainerOptions, RemoveContainerOptions, StopContainerOptions,
    WaitContainerOptions,
};
use futures::StreamExt;
use parking_lot::Mutex;
use tf_core::deployer_kit::Stopped;
use tf_core::deployer_kit::clock::NodeClock;
use tf_core::report::NodeExit;
use tokio::sync::watch;

use crate::engine::{describe, is_not_found};

#[derive(Default)]
struct State {
    /// Bumped at each start, so that the exit of an earlier run of the
    /// container is not taken for this one's.
    generation: u64,
    running: bool,
    /// A start is under way (between the first check and the engine's
    /// answer), so that two starts cannot both launch.
    starting: bool,
    /// Set while an exit is being asked for, so it is not reported as a crash.
    expecting_exit: bool,
    paused: bool,
}

/// A node's container.
pub(crate) struct NodeContainer {
    /// The node's name (`node-0`).
    pub(crate) name: String,
    /// The container's name (`tf-<run>-node-0`).
    pub(crate) container: String,
    pub(crate) log: PathBuf,
    /// A TCP port it listens on, where link fault probes connect.
    pub(crate) probe_port: u16,
    /// Its clock, when it runs under libfaketime.
    pub(crate) clock: Option<NodeClock>,
    docker: Docker,
    state: Mutex<State>,
    crashes: Arc<watch::Sender<Vec<NodeExit>>>,
}

impl NodeContainer {
    pub(crate) fn new(
        name: String,
        container: String,
        log: PathBuf,
        probe_port: u16,
        clock: Option<NodeClock>,
        docker: Docker,
        crashes: Arc<watch::Sender<Vec<NodeExit>>>,
    ) -> Arc<Self> {
        Arc::new(NodeContainer {
            name,
            container,
            log,
            probe_port,
            clock,
            docker,
            state: Mutex::default(),
            crashes,
        })
    }

    /// The same container through another connection (for removal from a
    /// thread of its own).
    pub(crate) fn with_docker(&self, docker: Docker) -> Arc<Self> {
        NodeContainer::new(
            self.name.clone(),
            self.container.clone(),
            self.log.clone(),
            self.probe_port,
            // Only for removal: no clock to keep.
            None,
            docker,
            Arc::clone(&self.crashes),
        )
    }

    pub(crate) fn is_running(&self) -> bool {
        self.state.lock().running
    }

    /// Running and not frozen: it would answer.
    pub(crate) fn is_answering(&self) -> bool {
        let state = self.state.lock();
        state.running && !state.paused
    }

    /// Starts the container, appending its output to the node's log.
    pub(crate) async fn start(self: &Arc<Self>) -> Result<(), String> {
        let generation = {
            let mut state = self.state.lock();
            if state.running || state.starting {
                return Err("it is already running".into());
            }
            state.starting = true;
            state.generation += 1;
            state.generation
        };
        if let Some(clock) = &self.clock {
            if let Err(e) = clock.starting() {
                self.state.lock().starting = false;
                return Err(format!(
                    "cannot write its clock {}: {e}",
                    clock.file().display()
                ));
            }
        }
        let started = self.launch().await;
        let mut state = self.state.lock();
        state.starting = false;
        let pump = started?;
        state.running = true;
        state.expecting_exit = false;
        state.paused = false;
        drop(state);
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let status = this.wait_exit().await;
            // Decided at once, so that a stop asked for after the exit is
            // not taken as what ended it.
            let expected = this.exited(generation);
            // The output ends with the process; let the log catch up.
            let _ = tokio::time::timeout(Duration::from_secs(2), pump).await;
            if expected == Some(false) {
                this.report_crash(status);
            }
        });
        Ok(())
    }

    /// Attaches to the container's output, then starts it; the output is
    /// appended to the log by the returned task.
    async fn launch(&self) -> Result<tokio::task::JoinHandle<()>, String> {
        // Attached before it starts, so not a line is missed.
        let attached = self
            .docker
            .attach_container(
                &self.container,
                Some(AttachContainerOptions {
                    stream: true,
                    stdout: true,
                    stderr: true,
                    logs: false,
                    ..Default::default()
                }),
            )
            .await
            .map_err(|e| format!("cannot attach to its output: {}", describe(&e)))?;
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| format!("cannot open its log {}: {e}", self.log.display()))?;
        let mut output = attached.output;
        let pump = tokio::spawn(async move {
            while let Some(Ok(chunk)) = output.next().await {
                let bytes = match chunk {
                    LogOutput::StdOut { message }
                    | LogOutput::StdErr { message }
                    | LogOutput::Console { message } => message,
                    LogOutput::StdIn { .. } => continue,
                };
                if log.write_all(&bytes).is_err() {
                    break;
                }
            }
        });
        if let Err(error) = self
            .docker
            .start_container(
                &self.container,
                None::<bollard::query_parameters::StartContainerOptions>,
            )
            .await
        {
            pump.abort();
            return Err(start_error(&describe(&error)));
        }
        Ok(pump)
    }

    async fn wait_exit(&self) -> String {
        let mut waits = self.docker.wait_container(
            &self.container,
            Some(WaitContainerOptions {
                condition: "not-running".into(),
            }),
        );
        match waits.next().await {
            Some(Ok(response)) => format!("exit code {}", response.status_code),
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => {
                describe_code(code)
            }
            Some(Err(error)) => format!("unknown ({})", describe(&error)),
            None => "unknown (the engine ended the wait)".into(),
        }
    }

    /// Marks run `generation` as over; whether its exit was asked for, or
    /// `None` if a later run has started since.
    fn exited(&self, generation: u64) -> Option<bool> {
        let mut state = self.state.lock();
        if state.generation != generation {
            return None;
        }
        let expected = state.expecting_exit;
        state.running = false;
        state.expecting_exit = false;
        state.paused = false;
        Some(expected)
    }

    fn report_crash(&self, status: String) {
        let exit = NodeExit {
            node: self.name.clone(),
            status,
            at: SystemTime::now(),
            log_tail: tf_core::deployer_kit::log_tail(&self.log),
        };
        tracing::warn!(node = %exit.node, status = %exit.status, "node exited on its own");
        self.crashes.send_modify(|crashes| crashes.push(exit));
    }

    /// Marks the coming exit as asked for; false if it is not running.
    pub(crate) fn expect_exit(&self) -> bool {
        let mut state = self.state.lock();
        state.expecting_exit |= state.running;
        state.running
    }

    /// The asked-for exit did not happen (the engine refused): a later
    /// exit is a crash again.
    fn exit_not_coming(&self) {
        let mut state = self.state.lock();
        if state.running {
            state.expecting_exit = false;
        }
    }

    /// SIGTERM, then SIGKILL after `grace` (the engine's stop).
    pub(crate) async fn stop(&self, grace: Duration) -> Result<Stopped, String> {
        if !self.expect_exit() {
            return Err("it is not running".into());
        }
        let paused = std::mem::take(&mut self.state.lock().paused);
        if paused {
            // A frozen process acts on SIGTERM only once thawed.
            let _ = self.docker.unpause_container(&self.container).await;
        }
        self.docker
            .stop_container(
                &self.container,
                Some(StopContainerOptions {
                    t: Some(grace.as_secs().max(1) as i32),
                    signal: None,
                }),
            )
            .await
            .map_err(|e| {
                self.exit_not_coming();
                describe(&e)
            })?;
        let code = self
            .docker
            .inspect_container(
                &self.container,
                None::<bollard::query_parameters::InspectContainerOptions>,
            )
            .await
            .ok()
            .and_then(|c| c.state)
            .and_then(|s| s.exit_code);
        self.state.lock().running = false;
        // 137: killed by SIGKILL once the grace period was over.
        Ok(if code == Some(137) {
            Stopped::Killed
        } else {
            Stopped::Gracefully
        })
    }

    /// SIGKILL at once.
    pub(crate) async fn kill(&self) -> Result<(), String> {
        if !self.expect_exit() {
            return Err("it is not running".into());
        }
        self.docker
            .kill_container(
                &self.container,
                Some(KillContainerOptions {
                    signal: "SIGKILL".into(),
                }),
            )
            .await
            .map_err(|e| {
                self.exit_not_coming();
                describe(&e)
            })?;
        // Gone before this returns, so that a start right after it does
        // not find the old process still there.
        let _ = self.wait_exit().await;
        self.state.lock().running = false;
        Ok(())
    }

    /// Freezes every process of the container (the cgroup freezer).
    pub(crate) async fn pause(&self) -> Result<(), String> {
        if !self.is_running() {
            return Err("it is not running".into());
        }
        self.docker
            .pause_container(&self.container)
            .await
            .map_err(|e| describe(&e))?;
        self.state.lock().paused = true;
        Ok(())
    }

    /// Thaws a paused container.
    pub(crate) async fn resume(&self) -> Result<(), String> {
        self.docker
            .unpause_container(&self.container)
            .await
            .map_err(|e| describe(&e))?;
        self.state.lock().paused = false;
        Ok(())
    }

    /// Removes the container, running or not; one already gone is fine.
    pub(crate) async fn remove(&self) -> Result<(), String> {
        self.expect_exit();
        remove_container(&self.docker, &self.container)
            .await
            .map(|_| ())
    }
}

/// Removes a container (by name or id), running or not: whether it was
/// there to remove (one already gone is fine).
pub(crate) async fn remove_container(docker: &Docker, container: &str) -> Result<bool, String> {
    let options = RemoveContainerOptions {
        force: true,
        v: true,
        link: false,
    };
    match docker.remove_container(container, Some(options)).await {
        Ok(()) => Ok(true),
        Err(e) if is_not_found(&e) => Ok(false),
        // Another remover has it (a run's reaper, a sweep, a second
        // cleanup): it is gone once that removal is done.
        Err(e) if describe(&e).contains("already in progress") => {
            removed_by_another(docker, container).await.map(|()| false)
        }
        Err(e) => Err(format!(
            "cannot remove container {container}: {}",
            describe(&e)
        )),
    }
}

/// Waits, 30 s at most, for a removal another caller began to finish; the
/// container must be gone after it.
async fn removed_by_another(docker: &Docker, container: &str) -> Result<(), String> {
    let mut waits = docker.wait_container(
        container,
        Some(WaitContainerOptions {
            condition: "removed".into(),
        }),
    );
    let Ok(waited) = tokio::time::timeout(Duration::from_secs(30), waits.next()).await else {
        return Err(format!(
            "cannot remove container {container}: another removal of it began and had not finished 30 s later; `scenarios cleanup` removes it"
        ));
    };
    // The wait ends with the container's exit code, or an error when the
    // removal failed: the engine says which, by still having it or not.
    match docker
        .inspect_container(
            container,
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await
    {
        Err(e) if is_not_found(&e) => Ok(()),
        there => Err(format!(
            "cannot remove container {container}: another removal of it failed ({}){}",
            match waited {
                Some(Err(e)) => describe(&e),
                _ => "the engine gave no reason".into(),
            },
            match there {
                Err(e) => format!("; inspecting it: {}", describe(&e)),
                Ok(_) => String::new(),
            }
        )),
    }
}

/// A failed start in words that say what to do.
fn start_error(engine: &str) -> String {
    if engine.contains("port is already allocated") || engine.contains("address already in use") {
        format!(
            "{engine}\nto fix: a port it publishes on 127.0.0.1 is taken by another program; stop that program or run again (ports are picked afresh)"
        )
    } else {
        format!("the engine could not start its container: {engine}")
    }
}

/// An exit code as the shell would describe it.
fn describe_code(code: i64) -> String {
    match code {
        137 => "killed (exit code 137, SIGKILL; out of memory or killed from outside)".into(),
        139 => "crashed (exit code 139, SIGSEGV)".into(),
        134 => "aborted (exit code 134, SIGABRT)".into(),
        code => format!("exit code {code}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_port_says_what_to_do() {
        let message = start_error(
            "driver failed programming external connectivity on endpoint tf-1-node-0: Bind for 127.0.0.1:15274 failed: port is already allocated",
        );
        assert!(message.contains("127.0.0.1:15274"), "{message}");
        assert!(
            message.contains("to fix: a port it publishes on 127.0.0.1 is taken"),
            "{message}"
        );
    }

    #[test]
    fn exit_codes_of_signals_are_named() {
        assert!(describe_code(137).contains("SIGKILL"));
        assert_eq!(describe_code(2), "exit code 2");
    }
}
