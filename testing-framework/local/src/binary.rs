//! Finding a node binary: an environment override, else next to the running
//! executable, else built with cargo on first use.

use std::path::{Path, PathBuf};
use std::process::Command;

use tf_core::scenario::{DeployError, NodeBinary};

/// Where `binary` is, building it with cargo if it is a workspace package
/// that is not built yet.
pub(crate) fn resolve(binary: &NodeBinary) -> Result<PathBuf, DeployError> {
    if let Some(path) = std::env::var_os(&binary.env_override) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(not_found(
                binary,
                format!(
                    "{} is set to {}, which is not a file",
                    binary.env_override,
                    path.display()
                ),
            ))
        };
    }
    let candidates = candidate_dirs();
    if let Some(found) = find_in(&candidates, &binary.name) {
        let stale = binary.cargo_package.is_some()
            && binary
                .source_dir
                .as_deref()
                .is_some_and(|dir| newer_than(dir, &found));
        if !stale {
            return Ok(found);
        }
        eprintln!(
            "tf-local: {} is older than its sources; rebuilding it",
            found.display()
        );
    }
    let looked = format!(
        "looked in {}",
        candidates
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let Some(package) = &binary.cargo_package else {
        return Err(not_found(binary, looked));
    };
    build_with_cargo(package, &binary.name, &candidates)
        .map_err(|why| not_found(binary, format!("{looked}; {why}")))?;
    find_in(&candidates, &binary.name)
        .ok_or_else(|| not_found(binary, format!("{looked}, also after building it")))
}

fn not_found(binary: &NodeBinary, looked: String) -> DeployError {
    let build = match &binary.cargo_package {
        Some(package) => format!("build it with `cargo build -p {package}` or "),
        None => String::new(),
    };
    DeployError::BinaryNotFound {
        binary: binary.name.clone(),
        looked,
        hint: format!("{build}set {} to its path", binary.env_override),
    }
}

/// The directory of the running executable, and its parent when that is a
/// `deps` directory (test binaries live in `target/<profile>/deps`).
fn candidate_dirs() -> Vec<PathBuf> {
    let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
    else {
        return Vec::new();
    };
    let mut dirs = vec![dir.clone()];
    if dir.file_name().is_some_and(|name| name == "deps") {
        if let Some(parent) = dir.parent() {
            dirs.insert(0, parent.to_path_buf());
        }
    }
    dirs
}

/// Whether any file under `dir` (its `src/` and `Cargo.toml`) was modified
/// after `binary`.
fn newer_than(dir: &Path, binary: &Path) -> bool {
    let Ok(built) = std::fs::metadata(binary).and_then(|m| m.modified()) else {
        return false;
    };
    let modified_after = |path: &Path| {
        std::fs::metadata(path)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t > built)
    };
    let mut pending = vec![dir.join("src")];
    if modified_after(&dir.join("Cargo.toml")) {
        return true;
    }
    while let Some(next) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&next) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if modified_after(&path) {
                return true;
            }
        }
    }
    false
}

fn find_in(dirs: &[PathBuf], name: &str) -> Option<PathBuf> {
    dirs.iter()
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

/// Builds `package` with the profile of the running executable.
fn build_with_cargo(package: &str, bin: &str, dirs: &[PathBuf]) -> Result<(), String> {
    let profile_dir = dirs
        .first()
        .ok_or("the running executable's directory is unknown")?;
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("debug");
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo.args(["build", "-p", package, "--bin", bin]);
    if profile == "release" {
        cargo.arg("--release");
    } else if profile != "debug" {
        cargo.args(["--profile", profile]);
    }
    if let Some(target_dir) = profile_dir.parent() {
        cargo.arg("--target-dir").arg(target_dir);
    }
    eprintln!("tf-local: building `{bin}` (cargo build -p {package}); this happens once");
    let status = cargo
        .status()
        .map_err(|e| format!("could not run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`cargo build -p {package}` failed ({status})"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_binary_says_how_to_get_it() {
        let binary = NodeBinary {
            name: "no-such-node-binary".into(),
            env_override: "TF_TEST_NO_SUCH_BIN".into(),
            cargo_package: None,
            source_dir: None,
        };
        let err = resolve(&binary).unwrap_err().to_string();
        assert!(
            err.contains("node binary `no-such-node-binary` not found"),
            "{err}"
        );
        assert!(err.contains("set TF_TEST_NO_SUCH_BIN to its path"), "{err}");
    }
}
