//! Node logs streamed through the API into the run directory, where the
//! local and compose deployers keep theirs: `<run>/node-N/node.log`. Every
//! pod a node has (one more per restart) is followed in turn and appended,
//! so the file holds the node's whole life.
//!
//! A stream the API server or a proxy cuts while the pod still runs is
//! resumed where it broke off (the lines carry the kubelet's timestamps,
//! and lines already written are skipped); bytes that are not UTF-8 are
//! kept, replaced, rather than ending the stream.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use futures::AsyncBufReadExt;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::LogParams;
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
            // Local writes of a few lines each: plain file I/O.
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log);
            let mut file = match file {
                Ok(file) => file,
                Err(error) => {
                    tracing::warn!(%node, %error, log = %log.display(), "cannot open the node's log");
                    return;
                }
            };
            let mut writing = Ok(());
            stream_lines(&api, &node, incarnation, &pods, |line| {
                if writing.is_ok() {
                    writing = writeln!(file, "{line}");
                }
            })
            .await;
            if let Err(error) = writing {
                tracing::warn!(%node, %error, log = %log.display(), "cannot write the node's log");
            }
            done = incarnation;
        }
    })
}

/// Writes what pod `pod`'s container has logged so far into `log`, once
/// (no stream): for a pod that exited at start, and for runs that do not
/// stream logs. Whether it could.
pub(crate) async fn fetch_once(api: &Api<Pod>, pod: &str, log: &std::path::Path) -> bool {
    match api.logs(pod, &LogParams::default()).await {
        Ok(text) => std::fs::write(log, text).is_ok(),
        Err(error) => {
            tracing::debug!(%pod, %error, "no log to fetch");
            false
        }
    }
}

/// Streams the log of pod `pod` (incarnation `incarnation`) line by line
/// into `sink`, resuming a stream that breaks off while that pod still
/// runs, until its container has ended or the pod is gone.
pub(crate) async fn stream_lines(
    api: &Api<Pod>,
    pod: &str,
    incarnation: u64,
    pods: &watch::Receiver<Pods>,
    mut sink: impl FnMut(&str),
) {
    let mut last: Option<Timestamp> = None;
    loop {
        let params = LogParams {
            follow: true,
            timestamps: true,
            since_time: last,
            ..LogParams::default()
        };
        match api.log_stream(pod, &params).await {
            Ok(stream) => {
                let mut stream = std::pin::pin!(stream);
                let mut bytes = Vec::new();
                loop {
                    bytes.clear();
                    match stream.read_until(b'\n', &mut bytes).await {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                    let text = String::from_utf8_lossy(&bytes);
                    let text = text.trim_end_matches(['\n', '\r']);
                    let (stamp, line) = stamped(text);
                    if let (Some(stamp), Some(seen)) = (stamp, last) {
                        // Resumed from the second it broke off in.
                        if stamp <= seen {
                            continue;
                        }
                    }
                    if stamp.is_some() {
                        last = stamp;
                    }
                    sink(line);
                }
            }
            Err(error) => tracing::debug!(%pod, %error, "no log stream"),
        }
        let still_running = pods
            .borrow()
            .pods
            .get(pod)
            .is_some_and(|s| s.incarnation == incarnation && s.state == PodState::Running);
        if !still_running {
            return;
        }
        // Broke off while the pod runs: resume, without hammering an API
        // server that is cutting streams.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A log line as the kubelet stamps it (`<RFC 3339> <line>`): its time and
/// the line; a line without a stamp is all line.
fn stamped(text: &str) -> (Option<Timestamp>, &str) {
    match text.split_once(' ') {
        Some((stamp, line)) => match stamp.parse::<Timestamp>() {
            Ok(time) => (Some(time), line),
            Err(_) => (None, text),
        },
        None => match text.parse::<Timestamp>() {
            // A stamped empty line.
            Ok(time) => (Some(time), ""),
            Err(_) => (None, text),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamped_lines_give_their_time_and_text() {
        let (time, line) = stamped("2026-12-01T10:00:00.123456789Z node up at 7000");
        assert_eq!(line, "node up at 7000");
        assert_eq!(time.unwrap().to_string(), "2026-12-01T10:00:00.123456789Z");
        assert_eq!(stamped("no stamp here"), (None, "no stamp here"));
        let (time, line) = stamped("2026-12-01T10:00:01Z");
        assert!(time.is_some() && line.is_empty());
    }
}
