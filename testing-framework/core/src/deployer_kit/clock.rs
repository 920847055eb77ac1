//! Clock faults for nodes started from a binary on this machine (local
//! processes, containers built from it): the node runs under libfaketime
//! (`LD_PRELOAD`), which reads the node's clock setting from a file the
//! runner rewrites whenever the fault changes. It reaches programs that
//! read the wall clock through libc, dynamically linked: most C, C++ and
//! Rust servers, not Go programs (their runtime reads the clock itself) nor
//! static binaries, which are refused with that said.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

use crate::fault::ClockFault;

/// Where Debian and others install libfaketime.
const LIBFAKETIME: [&str; 3] = [
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/faketime/libfaketime.so.1",
];

/// libfaketime on this machine (`TF_LIBFAKETIME` overrides where); the
/// reason and what to do when it is not there.
pub fn libfaketime() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("TF_LIBFAKETIME") {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "$TF_LIBFAKETIME = {} is not a file",
                path.display()
            ))
        };
    }
    LIBFAKETIME
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| {
            format!(
                "clock faults need libfaketime, which is not installed (looked at {}); install it (apt install libfaketime) or set TF_LIBFAKETIME",
                LIBFAKETIME.join(", ")
            )
        })
}

/// Whether `binary` can have its clock set off: dynamically linked, and
/// not a Go program. The reason when not.
pub fn check_binary(binary: &Path) -> Result<(), String> {
    let needs = "clock faults need a dynamically linked binary that reads the clock through libc";
    let libraries = super::shared_libraries(binary)?;
    if libraries.is_empty() {
        return Err(format!(
            "{needs}; {} is statically linked",
            binary.display()
        ));
    }
    let bytes =
        std::fs::read(binary).map_err(|e| format!("cannot read {}: {e}", binary.display()))?;
    // Every Go binary carries its build information under this marker;
    // built here from two halves, so that this very code (linked into a
    // Rust binary) does not carry it.
    let marker = [&b"\xff Go"[..], &b" buildinf:"[..]].concat();
    if bytes.windows(marker.len()).any(|w| w == marker.as_slice()) {
        return Err(format!(
            "{needs}; {} is a Go program, whose runtime reads the clock without libc",
            binary.display()
        ));
    }
    Ok(())
}

/// libfaketime, when `request` asks for clock faults and `binary` (the
/// node binary as found here) can have them; the reason, as a deploy
/// error, when it cannot.
pub fn for_request(
    request: &crate::scenario::deploy::DeploymentRequest,
    binary: &Path,
) -> Result<Option<PathBuf>, crate::scenario::deploy::DeployError> {
    if !request.clock_faults {
        return Ok(None);
    }
    check_binary(binary).map_err(crate::scenario::deploy::DeployError::Other)?;
    libfaketime()
        .map(Some)
        .map_err(crate::scenario::deploy::DeployError::Other)
}

/// Why a node's clock cannot be set: its cluster runs no libfaketime.
pub const NOT_DEPLOYED_WITH_CLOCKS: &str = "the cluster was deployed without clock faults (DeploymentRequest::with_clock_faults; a scenario asks for them through a workload that needs NodeAction::Clock, a manual cluster with ManualCluster::start_with_clocks)";

/// Sets `fault` on a node's `clock` from now on; a node with none (its
/// cluster was deployed without clock faults) says so.
pub fn set(clock: Option<&NodeClock>, fault: ClockFault) -> Result<(), String> {
    match clock {
        Some(clock) => clock.set(fault),
        None => Err(NOT_DEPLOYED_WITH_CLOCKS.into()),
    }
}

/// Where a node's clock setting is: `<run>/<node>/clock/spec`.
pub fn file_of(run_dir: &Path, node: &str) -> PathBuf {
    run_dir.join(node).join("clock").join("spec")
}

/// The environment that puts a node under libfaketime: the library at
/// `library` and its setting in `file`, both as the node sees them. Only
/// the wall clock is set off; the monotonic clock stays true.
pub fn environment(library: &str, file: &str) -> Vec<(String, String)> {
    [
        ("LD_PRELOAD", library),
        ("FAKETIME_TIMESTAMP_FILE", file),
        // Read at every call, so a change takes at once.
        ("FAKETIME_NO_CACHE", "1"),
        ("DONT_FAKE_MONOTONIC", "1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

struct Setting {
    fault: ClockFault,
    /// When the fault was set (seconds since the epoch).
    set_at: f64,
    /// When the node's process last started.
    started: f64,
}

/// One node's clock: the fault in force, kept across the node's restarts
/// (the clock belongs to its machine), written to the file the node's
/// libfaketime reads.
pub struct NodeClock {
    file: PathBuf,
    setting: Mutex<Setting>,
}

impl NodeClock {
    /// A true clock written to `file` (its directory is created).
    pub fn create(file: PathBuf) -> std::io::Result<Self> {
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let clock = NodeClock {
            file,
            setting: Mutex::new(Setting {
                fault: ClockFault::default(),
                set_at: now(),
                started: now(),
            }),
        };
        clock.write(&clock.setting.lock())?;
        Ok(clock)
    }

    /// The file the node's libfaketime reads.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The fault in force.
    pub fn fault(&self) -> ClockFault {
        self.setting.lock().fault
    }

    /// The node's process is starting now: libfaketime counts its rate from
    /// the process's start, so the setting is written for it.
    pub fn starting(&self) -> std::io::Result<()> {
        let mut setting = self.setting.lock();
        setting.started = now();
        self.write(&setting)
    }

    /// Sets `fault` from now on.
    pub fn set(&self, fault: ClockFault) -> Result<(), String> {
        fault.check()?;
        let mut setting = self.setting.lock();
        setting.fault = fault;
        setting.set_at = now();
        self.write(&setting)
            .map_err(|e| format!("cannot write {}: {e}", self.file.display()))
    }

    /// Replaced whole (a rename), so the node never reads half a setting.
    fn write(&self, setting: &Setting) -> std::io::Result<()> {
        let spec = setting
            .fault
            .faketime_spec(setting.started, setting.set_at.max(setting.started));
        let partial = self.file.with_extension("new");
        std::fs::write(&partial, format!("{spec}\n"))?;
        std::fs::rename(&partial, &self.file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_static_binary_is_refused_with_the_reason() {
        // Every test binary of this crate links libc; a script does not link
        // at all, which ldd reports as not dynamic.
        let dir = tempfile::tempdir().unwrap();
        let not_dynamic = dir.path().join("node");
        std::fs::write(&not_dynamic, b"#!/bin/sh\n").unwrap();
        let error = check_binary(&not_dynamic).unwrap_err();
        assert!(error.contains("dynamically linked"), "{error}");
        assert!(check_binary(&std::env::current_exe().unwrap()).is_ok());
        // Debian's ldconfig is a static binary.
        if Path::new("/sbin/ldconfig").exists() {
            let error = check_binary(Path::new("/sbin/ldconfig")).unwrap_err();
            assert!(error.contains("statically linked"), "{error}");
        }
    }

    #[test]
    fn the_file_holds_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        let clock = NodeClock::create(dir.path().join("clock/spec")).unwrap();
        let read = || std::fs::read_to_string(clock.file()).unwrap();
        assert_eq!(read(), "+0.000 x1\n");
        clock
            .set(ClockFault::ahead(std::time::Duration::from_secs(2)))
            .unwrap();
        assert_eq!(read(), "+2.000 x1\n");
        assert!(clock.set(ClockFault::default().rate(0.0)).is_err());
        assert_eq!(clock.fault().offset_ms, 2000);
    }
}
