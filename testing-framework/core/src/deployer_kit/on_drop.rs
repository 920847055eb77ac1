//! Removing what a cluster holds when it is dropped without its cleanup
//! (a panic, an abandoned run), for deployers whose removal talks to a
//! server (the container engine, the Kubernetes API).

use std::future::Future;
use std::time::Duration;

/// How long a removal on drop may take: a server that hangs must not hold
/// the dropping thread longer.
pub const DROP_CLEANUP_LIMIT: Duration = Duration::from_secs(30);

/// Removes what run `run` left (`what`: `containers`, `namespace`) from a
/// `Drop`, where nothing can be awaited: `removal` runs on a thread of its
/// own, on a runtime of its own (a client of the cluster's belongs to the
/// runtime being dropped: `removal` connects anew), for at most
/// [`DROP_CLEANUP_LIMIT`], after which `server` (`the engine`) is said
/// not to have answered. Blocks until it is done, and logs the outcome:
/// `<what> removed on drop`, or an error saying what is left and that
/// `scenarios cleanup` removes it. The outcome is returned too; a panic in
/// `removal` is one, not a panic here.
pub fn drop_cleanup<F, Fut>(run: &str, what: &str, server: &str, removal: F) -> Result<(), String>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), String>>,
{
    let outcome = remove_within(DROP_CLEANUP_LIMIT, server, removal);
    match &outcome {
        Ok(()) => tracing::info!(%run, "{what} removed on drop"),
        Err(problem) => {
            tracing::error!(%run, %problem, "{what} left after drop; `scenarios cleanup` removes what is left")
        }
    }
    outcome
}

/// Runs `removal` on a thread and a runtime of its own, for at most
/// `limit`, and waits for it.
fn remove_within<F, Fut>(limit: Duration, server: &str, removal: F) -> Result<(), String>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), String>>,
{
    let timed_out = format!("{server} did not answer within {limit:?}");
    let thread = std::thread::Builder::new()
        .name("tf-drop-cleanup".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start a runtime to remove them: {e}"))?;
            runtime.block_on(async move {
                tokio::time::timeout(limit, removal())
                    .await
                    .unwrap_or(Err(timed_out))
            })
        })
        .map_err(|e| format!("cannot start a thread to remove them: {e}"))?;
    thread
        .join()
        .unwrap_or_else(|_| Err("removing them panicked".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outcome_of_the_removal_is_returned() {
        assert_eq!(
            drop_cleanup("r1", "containers", "the engine", || async { Ok(()) }),
            Ok(())
        );
        assert_eq!(
            drop_cleanup("r1", "containers", "the engine", || async {
                Err("network tf-r1-peers is in use".to_owned())
            }),
            Err("network tf-r1-peers is in use".to_owned())
        );
    }

    #[test]
    fn a_removal_runs_on_a_runtime_of_its_own_even_inside_another() {
        let outer = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // As in a Drop on a runtime's thread: no await, no nested runtime.
        let outcome = outer.block_on(async {
            drop_cleanup("r2", "namespace", "the API server", || async {
                tokio::task::yield_now().await;
                Ok(())
            })
        });
        assert_eq!(outcome, Ok(()));
    }

    #[test]
    fn a_server_that_does_not_answer_is_given_up_on() {
        let outcome = remove_within(Duration::from_millis(50), "the engine", || {
            std::future::pending::<Result<(), String>>()
        });
        assert_eq!(outcome, Err("the engine did not answer within 50ms".into()));
    }

    #[test]
    fn a_removal_that_panics_is_a_problem_not_a_panic() {
        let outcome = drop_cleanup("r3", "containers", "the engine", || async {
            panic!("engine client bug")
        });
        assert_eq!(outcome, Err("removing them panicked".into()));
    }
}
