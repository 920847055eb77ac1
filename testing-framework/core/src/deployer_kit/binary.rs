//! Finding a node binary, in this order: the app's environment override,
//! an explicit path, `PATH`, next to the running executable, and a cargo
//! build for workspace packages. A binary that is not found is an error
//! that lists every place looked and how to fix it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::scenario::deploy::{DeployError, DeploymentRequest};
use crate::scenario::{NodeBinary, NodeBuild, Progress};

/// Each group's node binary of `request`, by group, found as
/// [`resolve_with`] finds one, built as the request's
/// [`build`](DeploymentRequest::build) says (off the async threads: it may
/// run cargo).
pub async fn resolve_groups(
    request: &DeploymentRequest,
) -> Result<HashMap<String, PathBuf>, DeployError> {
    let mut binaries = HashMap::new();
    for group in &request.groups {
        let spec = group.binary.clone();
        let build = request.build.clone();
        let progress = request.progress.clone();
        let binary = tokio::task::spawn_blocking(move || resolve_with(&spec, &build, progress))
            .await
            .map_err(|e| DeployError::Other(format!("finding the node binary failed: {e}")))??;
        binaries.insert(group.name.clone(), binary);
    }
    Ok(binaries)
}

/// Where `binary` is, building it with cargo (as the running executable
/// was built) if it is a workspace package that is not built yet (or older
/// than its sources).
pub fn resolve(binary: &NodeBinary) -> Result<PathBuf, DeployError> {
    resolve_with(binary, &NodeBuild::default(), None)
}

/// Where `binary` is, building it as `build` says if it is a workspace
/// package that is not built yet (or older than its sources); the build
/// is announced to `progress` (or the log).
pub fn resolve_with(
    binary: &NodeBinary,
    build: &NodeBuild,
    progress: Option<Progress>,
) -> Result<PathBuf, DeployError> {
    let mut looked = Vec::new();
    if let Some(path) = std::env::var_os(&binary.env_override) {
        let path = PathBuf::from(path);
        if is_executable(&path) {
            return Ok(path);
        }
        // A set override that is wrong is the user's mistake: say so
        // instead of quietly running something else.
        looked.push(format!(
            "${} = {} (not an executable file)",
            binary.env_override,
            path.display()
        ));
        return Err(not_found(binary, build, &looked));
    }
    looked.push(format!("${} (not set)", binary.env_override));
    if let Some(path) = &binary.path {
        if is_executable(path) {
            return Ok(path.clone());
        }
        looked.push(format!("{} (the app's path)", path.display()));
    }
    // A workspace package's binary older than its sources (an old `cargo
    // install` on PATH, a stale build) would test yesterday's code.
    let stale = |found: &Path| {
        binary.cargo_package.is_some()
            && binary
                .source_dir
                .as_deref()
                .is_some_and(|dir| newer_than(dir, found))
    };
    match find_on_path(&binary.name) {
        Some(found) if !stale(&found) => return Ok(found),
        Some(found) => looked.push(format!(
            "{} (on PATH, but older than its sources)",
            found.display()
        )),
        None => looked.push(format!("PATH ({})", path_dirs().join(":"))),
    }
    let candidates = candidate_dirs(build);
    if let Some(found) = find_in(&candidates, &binary.name) {
        if !stale(&found) {
            return Ok(found);
        }
        crate::scenario::say(
            progress.as_ref(),
            &format!(
                "{} is older than its sources; rebuilding it",
                found.display()
            ),
        );
    }
    let place = if build.release {
        "optimized builds"
    } else {
        "next to the running executable"
    };
    for dir in &candidates {
        looked.push(format!("{} ({place})", dir.display()));
    }
    let Some(package) = &binary.cargo_package else {
        return Err(not_found(binary, build, &looked));
    };
    let cargo = CargoBuild {
        package,
        bin: &binary.name,
        build,
        progress: progress.as_ref(),
    };
    if let Err(why) = cargo.run(&candidates) {
        looked.push(why);
        return Err(not_found(binary, build, &looked));
    }
    find_in(&candidates, &binary.name).ok_or_else(|| {
        looked.push(format!(
            "`cargo build -p {package}` ran but left no `{}` there",
            binary.name
        ));
        not_found(binary, build, &looked)
    })
}

fn not_found(binary: &NodeBinary, how: &NodeBuild, looked: &[String]) -> DeployError {
    let release = if how.release { " --release" } else { "" };
    let build = match &binary.cargo_package {
        Some(package) => format!("build it with `cargo build{release} -p {package}`, "),
        None => String::new(),
    };
    DeployError::BinaryNotFound {
        binary: binary.name.clone(),
        looked: looked
            .iter()
            .map(|place| format!("\n  - {place}"))
            .collect(),
        hint: format!(
            "{build}put it on PATH, or set {} to its path",
            binary.env_override
        ),
    }
}

fn path_dirs() -> Vec<String> {
    std::env::var_os("PATH")
        .map(|path| {
            std::env::split_paths(&path)
                .map(|d| d.display().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// `name` in a directory of `PATH`; a name with a slash is a path, not a
/// command name, and is not searched.
fn find_on_path(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        return None;
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Where node binaries are looked for: the directory of the running
/// executable, and its parent when that is a `deps` directory (test
/// binaries live in `target/<profile>/deps`); for a release build,
/// `target/release` beside them instead. The first is where a build puts
/// them.
fn candidate_dirs(build: &NodeBuild) -> Vec<PathBuf> {
    let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
    else {
        return Vec::new();
    };
    let profile_dir = if dir.file_name().is_some_and(|name| name == "deps") {
        dir.parent().map(Path::to_path_buf)
    } else {
        None
    };
    if build.release {
        // Only from inside a cargo target directory (an installed runner in
        // ~/.cargo/bin has no `release` beside it).
        let target = profile_dir
            .as_deref()
            .unwrap_or(&dir)
            .parent()
            .filter(|target| {
                target.join(".rustc_info.json").exists() || target.join("CACHEDIR.TAG").exists()
            });
        return target
            .map(|target| vec![target.join("release")])
            .unwrap_or_default();
    }
    profile_dir.into_iter().chain([dir]).collect()
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
        .find(|path| is_executable(path))
}

/// A cargo build of one node binary.
struct CargoBuild<'a> {
    package: &'a str,
    bin: &'a str,
    build: &'a NodeBuild,
    progress: Option<&'a Progress>,
}

impl CargoBuild<'_> {
    /// Builds the binary into `dirs[0]`'s profile: release when asked,
    /// else the running executable's. Cargo's output is kept and shown
    /// only when the build fails.
    fn run(&self, dirs: &[PathBuf]) -> Result<(), String> {
        let profile_dir = dirs
            .first()
            .ok_or("the running executable's directory is unknown")?;
        let profile = profile_dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("debug");
        let mut args = vec!["build".to_owned(), "-p".into(), self.package.into()];
        if let Some(along) = self
            .build
            .along_with
            .as_deref()
            .filter(|a| *a != self.package)
        {
            args.extend(["-p".into(), along.into()]);
            if !self.build.features.is_empty() {
                args.extend(["--features".into(), self.build.features.join(",")]);
            }
        }
        args.extend(["--bin".into(), self.bin.into()]);
        if profile == "release" {
            args.push("--release".into());
        } else if profile != "debug" {
            args.extend(["--profile".into(), profile.into()]);
        }
        let shown = format!("cargo {}", args.join(" "));
        let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        cargo.args(&args);
        if let Some(target_dir) = profile_dir.parent() {
            cargo.arg("--target-dir").arg(target_dir);
        }
        self.say(&format!(
            "building node binary `{}` ({shown}); once, until its sources change",
            self.bin
        ));
        let started = std::time::Instant::now();
        let output = cargo
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| format!("could not run cargo to build `{}`: {e}", self.bin))?;
        if output.status.success() {
            self.say(&format!(
                "built `{}` in {:.1}s",
                self.bin,
                started.elapsed().as_secs_f64()
            ));
            return Ok(());
        }
        let tail =
            super::last_lines(&String::from_utf8_lossy(&output.stderr), 40).replace('\n', "\n    ");
        Err(format!(
            "`{shown}` failed ({}); its last lines:\n    {tail}",
            output.status
        ))
    }

    fn say(&self, message: &str) {
        crate::scenario::say(self.progress, message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_binary_lists_every_place_looked_and_how_to_fix_it() {
        let binary = NodeBinary::named("no-such-node-binary", "TF_TEST_NO_SUCH_BIN")
            .at("/nonexistent/no-such-node-binary");
        let err = resolve(&binary).unwrap_err().to_string();
        assert!(
            err.contains("node binary `no-such-node-binary` not found"),
            "{err}"
        );
        for place in [
            "$TF_TEST_NO_SUCH_BIN (not set)",
            "/nonexistent/no-such-node-binary (the app's path)",
            "PATH (",
            "(next to the running executable)",
        ] {
            assert!(err.contains(place), "{place} missing from: {err}");
        }
        assert!(
            err.contains("put it on PATH, or set TF_TEST_NO_SUCH_BIN to its path"),
            "{err}"
        );
    }

    #[test]
    fn a_binary_on_path_is_found_by_name() {
        // `sh` is on PATH on every machine this runs on.
        let found = resolve(&NodeBinary::named("sh", "TF_TEST_SH_BIN")).unwrap();
        assert!(
            found.ends_with("sh") && found.is_absolute(),
            "{}",
            found.display()
        );
    }

    #[test]
    fn an_explicit_path_is_used_before_path() {
        let dir = tempfile::tempdir().unwrap();
        let own = dir.path().join("sh");
        std::fs::copy("/bin/sh", &own).unwrap();
        let found = resolve(&NodeBinary::named("sh", "TF_TEST_SH2_BIN").at(&own)).unwrap();
        assert_eq!(found, own);
    }
}
