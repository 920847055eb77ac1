//! Node logs streamed through the API into the run directory, where the
//! local and compose deployers keep theirs: `<run>/node-N/node.log`. Every
//! pod a node has (one more per restart) is followed in turn and appended,
//! so the file holds the node's whole life.

use std::path::PathBuf;

use futures::AsyncBufReadExt;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::LogParams;
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::PodState;
use crate::pods::Pods;

/// Follows node `node`'s pods into `log` until aborted.
pub(crate) fn follow(
    api: Api<Pod>,
    node: String,
    log: PathBuf,
    mut pods: watch::Receiver<Pods>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut done = 0;
        loop {
            // The next pod of this node with a container that ran.
            let incarnation = match pods
                .wait_for(|p| {
                    p.pods.get(&node).is_some_and(|s| {
                        s.incarnation > done
                            && matches!(s.state, PodState::Running | PodState::Exited { .. })
                    })
                })
                .await
            {
                Ok(p) => p.pods[&node].incarnation,
                Err(_) => return,
            };
            if let Err(error) = append(&api, &node, &log).await {
                tracing::debug!(%node, %error, "log stream ended");
            }
            done = incarnation;
        }
    })
}

/// Appends the log of `node`'s pod to `log`, following it until the
/// container ends.
async fn append(api: &Api<Pod>, node: &str, log: &PathBuf) -> Result<(), String> {
    let params = LogParams {
        follow: true,
        ..LogParams::default()
    };
    let stream = api
        .log_stream(node, &params)
        .await
        .map_err(|e| format!("cannot stream the log of {node}: {e}"))?;
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .await
        .map_err(|e| format!("cannot open {}: {e}", log.display()))?;
    let mut lines = std::pin::pin!(stream.lines());
    while let Some(line) = futures::TryStreamExt::try_next(&mut lines)
        .await
        .map_err(|e| format!("the log of {node} broke off: {e}"))?
    {
        let line = line + "\n";
        file.write_all(line.as_bytes())
            .await
            .map_err(|e| format!("cannot write {}: {e}", log.display()))?;
    }
    file.flush()
        .await
        .map_err(|e| format!("cannot write {}: {e}", log.display()))
}
