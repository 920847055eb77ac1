//! `scenarios check`: judge a recorded client history offline, a run's
//! `history.jsonl` or a Jepsen `history.edn`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use tf_core::checker::{
    CheckOptions, KeyValue, Linearizability, LinearizabilityReport, Register, check_linearizable,
};
use tf_core::history::{HISTORY_FILE, operations, read_history, write_edn};

/// Exit code when the deadline or the memory bound came first.
pub const UNKNOWN: u8 = 3;

#[derive(Args)]
pub struct CheckArgs {
    /// The history: a `history.jsonl` (or a run directory holding one), or
    /// a Jepsen `history.edn`.
    history: PathBuf,
    /// The sequential model to judge it against.
    #[arg(long, value_enum, default_value = "kv")]
    model: ModelKind,
    /// Give up after this long; the answer is then unknown (exit 3).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    deadline: Duration,
    /// Also write the history as Jepsen's EDN to this file.
    #[arg(long, value_name = "FILE")]
    edn: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum ModelKind {
    /// A map of registers, checked key by key: values are `[key, v]`
    /// (read, write, cas `[key, [old, new]]`, append).
    Kv,
    /// One register: read, write, cas `[old, new]`, append.
    Register,
}

/// Prints the verdict and, when the history is not linearizable, the
/// counterexample; exit 0, 1 (not linearizable) or 3 (unknown).
pub fn check(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let path = history_file(&args.history);
    let events = read_history(&path)?;
    let ops = operations(&events)
        .with_context(|| format!("{} is not a valid history", path.display()))?;
    if let Some(edn) = &args.edn {
        let mut out = std::io::BufWriter::new(
            std::fs::File::create(edn)
                .with_context(|| format!("cannot create {}", edn.display()))?,
        );
        write_edn(&events, &mut out).with_context(|| format!("cannot write {}", edn.display()))?;
        println!("wrote {}", edn.display());
    }
    let options = CheckOptions::default().with_deadline(args.deadline);
    let report: LinearizabilityReport = match args.model {
        ModelKind::Kv => check_linearizable(&KeyValue, &ops, &options)?,
        ModelKind::Register => check_linearizable(&Register, &ops, &options)?,
    };
    println!(
        "{}: {} events, {} operations",
        path.display(),
        events.len(),
        ops.len()
    );
    print!("{report}");
    Ok(match report.result {
        Linearizability::Linearizable => ExitCode::SUCCESS,
        Linearizability::NotLinearizable(_) => ExitCode::from(1),
        Linearizability::Unknown(_) => ExitCode::from(UNKNOWN),
    })
}

/// A run directory stands for its `history.jsonl`.
fn history_file(given: &Path) -> PathBuf {
    if given.is_dir() {
        given.join(HISTORY_FILE)
    } else {
        given.to_owned()
    }
}
