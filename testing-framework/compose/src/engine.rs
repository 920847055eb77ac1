//! The connection to the Docker engine.

use bollard::Docker;
use tf_core::ErrorChain;
use tf_core::scenario::deploy::DeployError;

/// Connects to the engine named by `DOCKER_HOST`, else the local socket,
/// agreeing on an API version both sides speak.
pub async fn connect() -> Result<Docker, DeployError> {
    let unreachable = |why: String| {
        let at =
            std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
        DeployError::Other(format!(
            "cannot reach the Docker engine at {at}: {why}\nto fix: start the engine (`systemctl start docker` or `dockerd`), make its socket readable by this user, or point DOCKER_HOST at it"
        ))
    };
    let docker = Docker::connect_with_local_defaults()
        .map_err(|e| unreachable(ErrorChain(&e).to_string()))?;
    let docker = docker
        .negotiate_version()
        .await
        .map_err(|e| unreachable(ErrorChain(&e).to_string()))?;
    docker
        .ping()
        .await
        .map_err(|e| unreachable(ErrorChain(&e).to_string()))?;
    Ok(docker)
}

/// Whether the engine answers, and why not.
pub async fn docker_available() -> Result<(), String> {
    connect().await.map(|_| ()).map_err(|e| e.to_string())
}

/// A bollard error as one line with its causes.
pub(crate) fn describe(error: &bollard::errors::Error) -> String {
    match error {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        other => ErrorChain(other).to_string(),
    }
}

/// Whether the engine answered "no such ..." (404).
pub(crate) fn is_not_found(error: &bollard::errors::Error) -> bool {
    matches!(
        error,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}
