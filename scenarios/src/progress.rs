//! What the CLI shows while a run goes: a spinner with the runner's
//! progress messages, and Ctrl-C turned into a clean stop.

use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tokio_util::sync::CancellationToken;

pub(crate) struct Progress {
    spinner: ProgressBar,
}

impl Progress {
    pub(crate) fn start() -> Self {
        let spinner = ProgressBar::new_spinner();
        spinner.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
                .expect("a valid template"),
        );
        spinner.enable_steady_tick(Duration::from_millis(120));
        Progress { spinner }
    }

    /// Prints each progress message with the time since the start.
    pub(crate) fn reporter(&self) -> tf_core::scenario::Progress {
        let bar = self.spinner.clone();
        Arc::new(move |message: &str| {
            let line = format!("  [{:>6.1}s] {message}", bar.elapsed().as_secs_f64());
            // Not a terminal: the spinner hides itself, so print plain lines.
            if bar.is_hidden() {
                eprintln!("{line}");
            } else {
                bar.println(line);
            }
            bar.set_message(message.to_owned());
        })
    }

    /// A token cancelled by the first Ctrl-C; the second exits at once.
    pub(crate) fn cancel_on_ctrl_c(&self) -> CancellationToken {
        let cancel = CancellationToken::new();
        let on_ctrl_c = cancel.clone();
        let bar = self.spinner.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                bar.println(
                    "interrupted: stopping the nodes and writing the report (Ctrl-C again to force)",
                );
                on_ctrl_c.cancel();
                if tokio::signal::ctrl_c().await.is_ok() {
                    // Local nodes die with this process (parent-death
                    // signal); containers stay until swept.
                    bar.println("forced: containers of a compose run are left; `cargo run -p scenarios -- cleanup` removes them");
                    std::process::exit(130);
                }
            }
        });
        cancel
    }

    pub(crate) fn finish(self) {
        self.spinner.finish_and_clear();
    }
}
