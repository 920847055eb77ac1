//! Node images built here, `FROM scratch`, through the engine's build API:
//! the binary and the shared libraries it links, nothing else. Tagged by
//! content, so an unchanged binary is not built again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::Instant;

use bollard::Docker;
use bollard::query_parameters::BuildImageOptions;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tf_core::scenario::deploy::DeployError;

use crate::engine::{describe, is_not_found};
use crate::labels;
use tf_core::deployer_kit::shared_libraries;

/// Where the node binary is in every image.
pub const BINARY_DIR: &str = "/usr/local/bin";

/// Name resolution for glibc: container names come from Docker's DNS
/// server (its `/etc/resolv.conf`), `/etc/hosts` first.
const NSSWITCH: &str = "hosts: files dns\npasswd: files\ngroup: files\n";
const PASSWD: &str =
    "root:x:0:0:root:/:/sbin/nologin\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n";
const GROUP: &str = "root:x:0:\nnogroup:x:65534:\n";
/// glibc's NSS modules, loaded at run time rather than linked; recent
/// glibc builds them into libc, older ones need the files.
const NSS_MODULES: [&str; 2] = ["libnss_files.so.2", "libnss_dns.so.2"];

/// An image ready to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeImage {
    /// `tf-<binary>:<content hash>`.
    pub tag: String,
    /// The binary's path inside the image.
    pub binary: String,
    /// Whether this call built it (false: it was there already).
    pub built: bool,
}

/// The image of `binary`, built unless an image of the same content exists.
pub async fn build_image(docker: &Docker, binary: &Path) -> Result<NodeImage, DeployError> {
    build_image_with(docker, binary, None).await
}

/// The image of `binary`, with `library` (libfaketime, for clock faults)
/// and what it links at their paths here when given.
pub(crate) async fn build_image_with(
    docker: &Docker,
    binary: &Path,
    library: Option<&Path>,
) -> Result<NodeImage, DeployError> {
    let path = binary.to_path_buf();
    let library = library.map(Path::to_path_buf);
    let (name, files) = tokio::task::spawn_blocking(move || {
        let (name, mut files) = node_files(&path)?;
        if let Some(library) = library {
            files.push((library.display().to_string(), library.clone()));
            files.extend(linked_files(&library)?);
        }
        Ok::<_, DeployError>((name, files))
    })
    .await
    .map_err(|e| DeployError::Other(format!("assembling the image failed: {e}")))??;
    build_files(docker, &name, files).await
}

/// The image named after `name` holding `files` (path in the image, file
/// here), built unless one of the same content exists. Its binary is
/// [`BINARY_DIR`]`/name`.
pub(crate) async fn build_files(
    docker: &Docker,
    name: &str,
    files: Vec<(String, PathBuf)>,
) -> Result<NodeImage, DeployError> {
    let binary = PathBuf::from(format!("{BINARY_DIR}/{name}"));
    let (context, digest) = tokio::task::spawn_blocking(move || context(&files))
        .await
        .map_err(|e| DeployError::Other(format!("assembling the image failed: {e}")))??;
    let name = name.to_owned();
    let tag = format!(
        "{}:{}",
        tf_core::deployer_kit::image_name(&name),
        &digest[..16]
    );
    let in_image = binary.display().to_string();
    let binary = binary.as_path();
    // Held until the image is there: a second caller of the same content
    // waits here and then finds it, rather than building it again.
    let building = build_lock(&tag);
    let _building = building.lock().await;
    match docker.inspect_image(&tag).await {
        Ok(_) => {
            return Ok(NodeImage {
                tag,
                binary: in_image,
                built: false,
            });
        }
        Err(error) if is_not_found(&error) => {}
        Err(error) => {
            return Err(DeployError::Other(format!(
                "cannot look up image {tag}: {}",
                describe(&error)
            )));
        }
    }
    let started = Instant::now();
    let options = BuildImageOptions {
        dockerfile: "Dockerfile".into(),
        t: Some(tag.clone()),
        rm: true,
        forcerm: true,
        labels: Some(HashMap::from([
            (labels::MANAGED.to_owned(), "true".to_owned()),
            (labels::BINARY.to_owned(), name.clone()),
        ])),
        ..Default::default()
    };
    let mut output = String::new();
    let mut stream = docker.build_image(
        options,
        None,
        Some(bollard::body_try_stream(chunks(context))),
    );
    let failed = |why: String, output: &str| {
        DeployError::Other(format!(
            "building image {tag} of {} failed: {why}\n--- build output ---\n{}",
            binary.display(),
            output.trim_end()
        ))
    };
    while let Some(step) = stream.next().await {
        let step = step.map_err(|e| failed(describe(&e), &output))?;
        if let Some(text) = step.stream {
            output.push_str(&text);
        }
        if let Some(error) = step.error {
            return Err(failed(error, &output));
        }
    }
    tracing::info!(%tag, elapsed = ?started.elapsed(), "image built");
    Ok(NodeImage {
        tag,
        binary: in_image,
        built: true,
    })
}

/// The lock of the builds of `tag` in this process: one build per content
/// at a time. Runs started together (tests side by side, say) would
/// otherwise each build the same image, and every build but the last would
/// leave an untagged image behind.
fn build_lock(tag: &str) -> Arc<tokio::sync::Mutex<()>> {
    type Locks = Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>;
    static BUILDS: LazyLock<Locks> = LazyLock::new(Locks::default);
    BUILDS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(tag.to_owned())
        .or_default()
        .clone()
}

/// The files of `binary`'s image: the binary under [`BINARY_DIR`], the
/// libraries it links and glibc's name service modules; with the binary's
/// file name.
fn node_files(binary: &Path) -> Result<(String, Vec<(String, PathBuf)>), DeployError> {
    let name = binary
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| DeployError::Other(format!("{} names no file", binary.display())))?;
    // Only the first bytes: the whole file is read once, into the context.
    let mut start = [0u8; 2];
    let script = std::fs::File::open(binary)
        .and_then(|mut file| std::io::Read::read(&mut file, &mut start))
        .map(|read| read == 2 && &start == b"#!")
        .map_err(|e| DeployError::Other(format!("cannot read {}: {e}", binary.display())))?;
    if script {
        return Err(DeployError::Other(format!(
            "{} is a script; an image built FROM scratch holds no interpreter. Give a compiled binary (or the interpreter as the node binary, with the script among its arguments and in its data)",
            binary.display()
        )));
    }
    let mut files = vec![(format!("{BINARY_DIR}/{name}"), binary.to_path_buf())];
    files.extend(linked_files(binary)?);
    Ok((name, files))
}

/// The shared libraries `binary` links, and glibc's name service modules
/// next to libc, each at its own path.
pub(crate) fn linked_files(binary: &Path) -> Result<Vec<(String, PathBuf)>, DeployError> {
    let libraries = shared_libraries(binary).map_err(DeployError::Other)?;
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    for library in &libraries {
        files.push((library.display().to_string(), library.clone()));
    }
    // The NSS modules sit next to libc.
    if let Some(dir) = libraries
        .iter()
        .find(|l| {
            l.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("libc.so"))
        })
        .and_then(|libc| libc.parent())
    {
        for module in NSS_MODULES {
            let path = dir.join(module);
            if path.exists() {
                files.push((path.display().to_string(), path));
            }
        }
    }
    Ok(files)
}

/// The build context (a tar, in an anonymous temporary file) of an image
/// holding `files` (path in the image, file here), and the context's
/// SHA-256 in hex. Every header is fixed (no times, no owners), so the same
/// files give the same digest. Files are copied through, never held whole
/// in memory: a debug-built node binary is some 100 MB.
fn context(files: &[(String, PathBuf)]) -> Result<(std::fs::File, String), DeployError> {
    let io =
        |e: std::io::Error| DeployError::Other(format!("cannot assemble the image context: {e}"));
    let file = tempfile::tempfile().map_err(io)?;
    let mut tar = tar::Builder::new(Hashing {
        inner: file,
        hash: Sha256::new(),
    });
    append(
        &mut tar,
        "Dockerfile",
        b"FROM scratch\nCOPY rootfs/ /\n",
        0o644,
    )
    .map_err(io)?;
    for (at, text) in [
        ("etc/nsswitch.conf", NSSWITCH),
        ("etc/passwd", PASSWD),
        ("etc/group", GROUP),
    ] {
        append(&mut tar, &format!("rootfs/{at}"), text.as_bytes(), 0o644).map_err(io)?;
    }
    for dir in ["tmp", "data", "run"] {
        let mut header = fixed_header(0o1777);
        header.set_entry_type(tar::EntryType::Directory);
        header.set_size(0);
        tar.append_data(&mut header, format!("rootfs/{dir}/"), std::io::empty())
            .map_err(io)?;
    }
    let mut added = std::collections::HashSet::new();
    for (at, from) in files {
        if !added.insert(at) {
            continue;
        }
        // Read through symlinks: the image gets the file under the name it
        // is known by (a multi-call binary looks at its own name).
        let cannot_read =
            |e: std::io::Error| DeployError::Other(format!("cannot read {}: {e}", from.display()));
        let source = std::fs::File::open(from).map_err(cannot_read)?;
        let size = source.metadata().map_err(cannot_read)?.len();
        let mut header = fixed_header(0o755);
        header.set_size(size);
        header.set_entry_type(tar::EntryType::Regular);
        // The size is in the header before the bytes are: a file that
        // shrinks meanwhile (a binary relinked) must not make a bad tar.
        let mut counted = Counted {
            inner: std::io::Read::take(source, size),
            read: 0,
        };
        tar.append_data(&mut header, format!("rootfs{at}"), &mut counted)
            .map_err(io)?;
        if counted.read != size {
            return Err(DeployError::Other(format!(
                "{} changed while it was packed into the image ({size} bytes, then {}); run again",
                from.display(),
                counted.read
            )));
        }
    }
    let Hashing { mut inner, hash } = tar.into_inner().map_err(io)?;
    std::io::Seek::rewind(&mut inner).map_err(io)?;
    let digest = hash
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    Ok((inner, digest))
}

/// A writer that hashes what goes through it.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
}

impl<W: std::io::Write> std::io::Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.hash.update(&buf[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that counts what it read.
struct Counted<R> {
    inner: R,
    read: u64,
}

impl<R: std::io::Read> std::io::Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.read += read as u64;
        Ok(read)
    }
}

/// `file`, from where it is, as a stream of chunks for the engine; it
/// ends at the first error.
fn chunks(
    file: std::fs::File,
) -> impl futures::Stream<Item = Result<bytes::Bytes, std::io::Error>> {
    futures::stream::unfold(Some(tokio::fs::File::from_std(file)), |file| async move {
        let mut file = file?;
        let mut chunk = vec![0u8; 256 * 1024];
        match tokio::io::AsyncReadExt::read(&mut file, &mut chunk).await {
            Ok(0) => None,
            Ok(read) => {
                chunk.truncate(read);
                Some((Ok(chunk.into()), Some(file)))
            }
            Err(error) => Some((Err(error), None)),
        }
    })
}

fn fixed_header(mode: u32) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_mode(mode);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header
}

fn append<W: std::io::Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    bytes: &[u8],
    mode: u32,
) -> std::io::Result<()> {
    let mut header = fixed_header(mode);
    header.set_size(bytes.len() as u64);
    header.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut header, path, bytes)
}

/// Tags `image` as `tf-<binary>:latest` too, the name the k8s deployer
/// looks for by default; returns that name.
pub async fn tag_latest(docker: &Docker, image: &NodeImage) -> Result<String, DeployError> {
    let repo = image.tag.split(':').next().unwrap_or_default().to_owned();
    docker
        .tag_image(
            &image.tag,
            Some(bollard::query_parameters::TagImageOptions {
                repo: Some(repo.clone()),
                tag: Some("latest".into()),
            }),
        )
        .await
        .map_err(|e| {
            DeployError::Other(format!(
                "cannot tag {} as {repo}:latest: {}",
                image.tag,
                describe(&e)
            ))
        })?;
    Ok(format!("{repo}:latest"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_binary_gives_the_same_context_and_a_changed_one_another() {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("node");
        std::fs::copy("/bin/true", &binary).unwrap();
        let digest = |binary: &Path| context(&node_files(binary).unwrap().1).unwrap().1;
        let (name, _) = node_files(&binary).unwrap();
        let first = digest(&binary);
        assert_eq!(name, "node");
        assert_eq!(first, digest(&binary));
        std::fs::copy("/bin/false", &binary).unwrap();
        assert_ne!(digest(&binary), first);
    }

    #[test]
    fn the_context_holds_the_binary_its_libraries_and_the_resolver_files() {
        let (file, _) = context(&node_files(Path::new("/bin/true")).unwrap().1).unwrap();
        let mut archive = tar::Archive::new(file);
        let paths: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        for expected in [
            "Dockerfile",
            "rootfs/usr/local/bin/true",
            "rootfs/etc/nsswitch.conf",
        ] {
            assert!(
                paths.iter().any(|p| p == expected),
                "{expected} missing: {paths:?}"
            );
        }
        assert!(paths.iter().any(|p| p.contains("libc.so")), "{paths:?}");
        assert!(paths.iter().any(|p| p.contains("ld-linux")), "{paths:?}");
    }

    #[test]
    fn a_script_is_refused_with_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("node.py");
        std::fs::write(&script, "#!/usr/bin/env python3\n").unwrap();
        let error = node_files(&script).unwrap_err().to_string();
        assert!(error.contains("is a script"), "{error}");
    }
}
