//! The reaper: a container started with each run that removes the run's
//! containers and networks once its runner is gone, however it went (a
//! SIGKILL, an OOM kill, a crashed machine session).
//!
//! The runner holds one TCP connection to the reaper (through a port
//! published on 127.0.0.1) for as long as the run lasts. The kernel closes
//! it when the runner's process dies; the reaper reads the end of the
//! stream, removes every container (helpers first) and network labelled
//! with the run, and exits; the engine then removes the reaper itself
//! (`AutoRemove`). A reaper its runner never reaches within
//! [`WAIT_FOR_RUNNER`] reaps too: the runner died while starting.
//!
//! The reaper is this crate's `tf-reaper` binary in an image built here
//! `FROM scratch`, like node images. It reaches the engine through its
//! socket, mounted in; an engine reached over TCP (`DOCKER_HOST=tcp://...`)
//! gets no reaper, with a warning, and `scenarios cleanup` stays the way to
//! sweep. `TF_REAPER=off` turns it off.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use bollard::query_parameters::{CreateContainerOptions, InspectContainerOptions};
use tf_core::scenario::NodeBinary;
use tf_core::scenario::deploy::{DeployError, DeploymentRequest};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::engine::describe;
use crate::image::build_image;
use crate::labels;
use crate::node::remove_container;

/// The reaper's binary.
pub const BINARY: &str = "tf-reaper";
/// What `labels::ROLE` says of a reaper.
pub(crate) const ROLE: &str = "reaper";
/// The port the reaper listens on inside its container.
const PORT: u16 = 7390;
/// Where the engine's socket is inside the reaper's container.
const SOCKET_IN_CONTAINER: &str = "/var/run/docker.sock";
/// How long a reaper waits for its runner's connection before reaping.
pub const WAIT_FOR_RUNNER: Duration = Duration::from_secs(60);
/// How long the runner waits for its reaper to answer.
const ANSWER_WITHIN: Duration = Duration::from_secs(20);
/// The environment variable that turns the reaper off (`off`, `0`, `false`).
pub const SWITCH: &str = "TF_REAPER";
/// The first words of the reaper's greeting, followed by its run.
const GREETING: &str = "tf-reaper watching run";

/// The name of run `run`'s reaper container.
pub(crate) fn container_name(run: &str) -> String {
    format!("tf-{run}-reaper")
}

/// A run's reaper, watching while this is held: dropping it (or the
/// runner's death) lets the reaper remove what is left of the run.
#[derive(Debug)]
pub(crate) struct Reaper {
    _connection: TcpStream,
}

impl Reaper {
    /// Starts run `run`'s reaper and connects to it; `None` when the reaper
    /// is turned off or cannot reach the engine from a container.
    pub(crate) async fn start(
        docker: &Docker,
        run: &str,
        run_labels: &HashMap<String, String>,
        request: &DeploymentRequest,
    ) -> Result<Option<Reaper>, DeployError> {
        if std::env::var(SWITCH).is_ok_and(|v| matches!(v.as_str(), "off" | "0" | "false")) {
            tracing::info!(
                "the reaper is off ({SWITCH}); a killed runner's containers stay until `scenarios cleanup`"
            );
            return Ok(None);
        }
        let Some(socket) = engine_socket() else {
            tracing::warn!(
                "the engine is not on a local socket (DOCKER_HOST), so no reaper watches this run: if the runner is killed, `scenarios cleanup` removes what it left"
            );
            return Ok(None);
        };
        let spec = NodeBinary::named(BINARY, "TF_REAPER_BIN")
            .from_workspace("tf-compose", env!("CARGO_MANIFEST_DIR"));
        // Built as the node binaries are (along with the runner, its build
        // said as progress), but never optimized: it sits idle.
        let build = request.build.unoptimized();
        let progress = request.progress.clone();
        let binary = tokio::task::spawn_blocking(move || {
            tf_core::deployer_kit::binary::resolve_with(&spec, &build, progress)
        })
        .await
        .map_err(|e| DeployError::Other(format!("finding the reaper failed: {e}")))??;
        let image = build_image(docker, &binary).await?;
        let name = container_name(run);
        let failed = |why: String| {
            DeployError::Other(format!(
                "cannot start the run's reaper ({name}): {why}\nto fix: check the engine's log; or run without a reaper ({SWITCH}=off) and sweep killed runs with `scenarios cleanup`"
            ))
        };
        remove_container(docker, &name).await.map_err(failed)?;
        let mut reaper_labels = run_labels.clone();
        reaper_labels.insert(labels::ROLE.to_owned(), ROLE.to_owned());
        let port = format!("{PORT}/tcp");
        let body = ContainerCreateBody {
            image: Some(image.tag),
            entrypoint: Some(vec![image.binary, run.to_owned()]),
            labels: Some(reaper_labels),
            exposed_ports: Some(HashMap::from([(port.clone(), HashMap::new())])),
            host_config: Some(HostConfig {
                auto_remove: Some(true),
                binds: Some(vec![format!("{}:{SOCKET_IN_CONTAINER}", socket.display())]),
                port_bindings: Some(HashMap::from([(
                    port.clone(),
                    Some(vec![PortBinding {
                        host_ip: Some("127.0.0.1".into()),
                        host_port: None,
                    }]),
                )])),
                ..Default::default()
            }),
            ..Default::default()
        };
        let created = docker
            .create_container(
                Some(CreateContainerOptions {
                    name: Some(name.clone()),
                    ..Default::default()
                }),
                body,
            )
            .await;
        created.map_err(|e| failed(describe(&e)))?;
        let connected = async {
            docker
                .start_container(
                    &name,
                    None::<bollard::query_parameters::StartContainerOptions>,
                )
                .await
                .map_err(|e| describe(&e))?;
            let address = published(docker, &name, &port).await?;
            let run = run.to_owned();
            tokio::task::spawn_blocking(move || connect(address, &run))
                .await
                .map_err(|e| e.to_string())?
        };
        match connected.await {
            Ok(connection) => Ok(Some(Reaper {
                _connection: connection,
            })),
            Err(why) => {
                let _ = remove_container(docker, &name).await;
                Err(failed(why))
            }
        }
    }
}

/// The engine's socket on this machine, when the engine is reached through
/// one.
fn engine_socket() -> Option<PathBuf> {
    socket_of(std::env::var("DOCKER_HOST").ok().as_deref()).filter(|s| s.exists())
}

/// The socket `DOCKER_HOST` (`host`) names: the default one when unset,
/// none when the engine is reached another way (`tcp://`, `ssh://`).
fn socket_of(host: Option<&str>) -> Option<PathBuf> {
    match host {
        None | Some("") => Some(PathBuf::from("/var/run/docker.sock")),
        Some(host) => host.strip_prefix("unix://").map(PathBuf::from),
    }
}

/// Where the engine published `port` of container `name`.
async fn published(docker: &Docker, name: &str, port: &str) -> Result<SocketAddr, String> {
    let inspected = docker
        .inspect_container(name, None::<InspectContainerOptions>)
        .await
        .map_err(|e| describe(&e))?;
    inspected
        .network_settings
        .and_then(|s| s.ports)
        .and_then(|mut ports| ports.remove(port).flatten())
        .and_then(|bindings| bindings.into_iter().find_map(|b| b.host_port))
        .and_then(|p| p.parse::<u16>().ok())
        .map(|p| SocketAddr::from(([127, 0, 0, 1], p)))
        .ok_or_else(|| format!("the engine published no port for {port}"))
}

/// A connection to the reaper at `address` that has greeted us with our
/// run. The engine's port proxy accepts before the reaper listens, so a
/// connection closed without a greeting is tried again.
fn connect(address: SocketAddr, run: &str) -> Result<TcpStream, String> {
    let deadline = Instant::now() + ANSWER_WITHIN;
    let expected = format!("{GREETING} {run}");
    let mut last = String::from("no answer");
    while Instant::now() < deadline {
        match greeted(address) {
            Ok((stream, line)) if line == expected => return Ok(stream),
            Ok((_, line)) => {
                return Err(format!(
                    "{address} answered {line:?}, not the reaper of run {run}"
                ));
            }
            Err(why) => last = why,
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!(
        "it did not answer at {address} within {ANSWER_WITHIN:?} ({last})"
    ))
}

/// A connection to `address` and the first line read on it.
fn greeted(address: SocketAddr) -> Result<(TcpStream, String), String> {
    let stream =
        TcpStream::connect_timeout(&address, Duration::from_secs(2)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    let mut line = String::new();
    BufReader::new(&stream)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    if line.is_empty() {
        return Err("closed before greeting".into());
    }
    // Held open from here on, blocking with no timeout.
    stream.set_read_timeout(None).map_err(|e| e.to_string())?;
    Ok((stream, line.trim_end().to_owned()))
}

/// The reaper's side, in its container: waits for the runner of `run`,
/// holds its connection until it closes, then removes the run's containers
/// and networks. Returns what it removed, as lines for its log.
pub async fn serve(run: &str) -> Result<Vec<String>, String> {
    let listener = tokio::net::TcpListener::bind(("0.0.0.0", PORT))
        .await
        .map_err(|e| format!("cannot listen on port {PORT}: {e}"))?;
    // The engine first: a reaper that could not remove anything must not
    // greet the runner as if it watched.
    let docker = match engine().await {
        Ok(docker) => docker,
        Err(why) => {
            let said = format!("tf-reaper cannot reach the engine through its socket: {why}\n");
            if let Ok(Ok((mut stream, _))) =
                tokio::time::timeout(WAIT_FOR_RUNNER, listener.accept()).await
            {
                let _ = stream.write_all(said.as_bytes()).await;
            }
            return Err(said.trim_end().to_owned());
        }
    };
    match tokio::time::timeout(WAIT_FOR_RUNNER, listener.accept()).await {
        Err(_) => eprintln!("no runner came within {WAIT_FOR_RUNNER:?}; reaping run {run}"),
        Ok(Err(e)) => eprintln!("accepting the runner failed ({e}); reaping run {run}"),
        Ok(Ok((mut stream, from))) => {
            drop(listener);
            eprintln!("runner connected from {from}");
            let greeting = format!("{GREETING} {run}\n");
            if stream.write_all(greeting.as_bytes()).await.is_ok() {
                // Whatever the runner sends is ignored; the end of the
                // stream (or an error) is its death.
                let mut buffer = [0u8; 256];
                while matches!(stream.read(&mut buffer).await, Ok(n) if n > 0) {}
            }
            eprintln!("the runner's connection closed; reaping run {run}");
        }
    }
    let mut lines = Vec::new();
    // A create the runner had in flight when it died may land just after
    // the first pass.
    for pass in 0..2 {
        if pass > 0 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let removal = crate::sweep::remove_run(&docker, run).await;
        lines.extend(removal.removed.into_iter().map(|r| format!("removed {r}")));
        lines.extend(removal.problems);
    }
    Ok(lines)
}

/// The engine through the mounted socket, answering.
async fn engine() -> Result<Docker, String> {
    let docker = Docker::connect_with_local_defaults()
        .map_err(|e| describe(&e))?
        .negotiate_version()
        .await
        .map_err(|e| describe(&e))?;
    docker.ping().await.map_err(|e| describe(&e))?;
    Ok(docker)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_is_read_from_docker_host() {
        let default = Some(PathBuf::from("/var/run/docker.sock"));
        assert_eq!(socket_of(None), default);
        assert_eq!(socket_of(Some("")), default);
        assert_eq!(
            socket_of(Some("unix:///run/user/1000/docker.sock")),
            Some(PathBuf::from("/run/user/1000/docker.sock"))
        );
        assert_eq!(socket_of(Some("tcp://10.0.0.1:2375")), None);
        assert_eq!(socket_of(Some("ssh://me@box")), None);
    }
}
