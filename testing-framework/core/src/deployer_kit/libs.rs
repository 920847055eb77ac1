//! The shared libraries a dynamically linked binary needs, so that it can
//! run in an image that holds nothing else.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Every shared library `binary` loads, the dynamic loader among them, by
/// the absolute path the loader finds it at; empty for a static binary.
/// Asks the system's `ldd`, which resolves them the way the loader will.
pub fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>, String> {
    let output = Command::new("ldd")
        .arg(binary)
        .env("LC_ALL", "C")
        .output()
        .map_err(|e| {
            format!(
                "cannot run ldd to list the libraries of {}: {e}",
                binary.display()
            )
        })?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let text = format!("{stdout}{stderr}");
    if text.contains("not a dynamic executable") || text.contains("statically linked") {
        return Ok(Vec::new());
    }
    if !output.status.success() {
        return Err(format!("ldd {} failed: {}", binary.display(), text.trim()));
    }
    parse_ldd(&stdout).map_err(|missing| {
        format!(
            "{} links {missing}, which is not installed here; install it, or build the binary statically",
            binary.display()
        )
    })
}

/// The paths in `ldd` output; `Err(library)` for one not found.
fn parse_ldd(text: &str) -> Result<Vec<PathBuf>, String> {
    let mut libraries = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let path = match line.split_once("=>") {
            Some((name, target)) => {
                let target = target.trim();
                if target.starts_with("not found") {
                    return Err(name.trim().to_owned());
                }
                target.split_whitespace().next().unwrap_or_default()
            }
            // The loader (`/lib64/ld-linux-x86-64.so.2 (0x...)`) and the
            // kernel's vDSO (`linux-vdso.so.1 (0x...)`, no file).
            None => line.split_whitespace().next().unwrap_or_default(),
        };
        if path.starts_with('/') && !libraries.iter().any(|l: &PathBuf| l == Path::new(path)) {
            libraries.push(PathBuf::from(path));
        }
    }
    Ok(libraries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_output_gives_every_library_and_the_loader_but_not_the_vdso() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd)\n\
                    \tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f85)\n\
                    \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f85)\n\
                    \t/lib64/ld-linux-x86-64.so.2 (0x00007f85)\n";
        assert_eq!(
            parse_ldd(text).unwrap(),
            [
                PathBuf::from("/lib/x86_64-linux-gnu/libgcc_s.so.1"),
                PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2"),
            ]
        );
    }

    #[test]
    fn a_library_that_is_not_installed_is_named() {
        let text = "\tlibfoo.so.3 => not found\n\tlibc.so.6 => /lib/libc.so.6 (0x1)\n";
        assert_eq!(parse_ldd(text).unwrap_err(), "libfoo.so.3");
    }

    #[test]
    fn the_libraries_of_a_system_binary_are_found() {
        let libraries = shared_libraries(Path::new("/bin/ls")).unwrap();
        assert!(
            libraries
                .iter()
                .any(|l| l.to_string_lossy().contains("libc.so")),
            "{libraries:?}"
        );
    }
}
