//! One run per sink: a machine-wide lock per provtjänst client.
//!
//! The state store's run lock keeps two runs of one *state file* apart. Two
//! pipelines with different state files can still write to the same
//! provtjänst client (the same certificate identity at the same
//! Provisioning URL) — e.g. `educloud-to-skolverket.toml` and
//! `migration-ist-to-other.toml` started at once, or a copy of a pipeline
//! with another `[state]`. Their deletes and updates would race. So a run
//! also takes an advisory lock (`flock`) on a file named after the sink's
//! identity, in `$XDG_RUNTIME_DIR/skolsync-locks/` (else
//! `<temp dir>/skolsync-locks/`): a second run against the same client on
//! this machine is refused, naming the process, pipeline and state file
//! that hold it. The kernel releases the lock when the process ends, however
//! it ends, so a crash never leaves it behind.
//!
//! A client is identified by its `client_key_id` and, separately, by the
//! content of its certificate file: two runs conflict when they share the
//! Provisioning URL and either of these. File sinks and the embedded
//! sandbox (a new one per run) take no lock.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use fs4::FileExt;
use sha2::{Digest, Sha256};
use skolsync_sink::SinkConfig;

use crate::pipeline::{Pipeline, StateLocation, resolve};
use crate::state::StateError;

/// The environment variable that overrides the lock folder.
pub const LOCK_DIR_ENV: &str = "SKOLSYNC_LOCK_DIR";

/// The largest certificate file hashed for the identity.
const MAX_CERT_BYTES: u64 = 1 << 20;
/// The most of a holder's note read back.
const MAX_NOTE_BYTES: u64 = 4096;

/// The locks a run holds on its sink; released on drop (and by the kernel
/// when the process ends).
#[derive(Debug)]
pub struct SinkLock {
    held: Vec<(PathBuf, File)>,
}

impl SinkLock {
    /// Takes the locks of `pipeline`'s sink in the default folder, or
    /// returns [`StateError::SinkLocked`] naming the run that holds one.
    /// `Ok(None)` for sinks that need none.
    pub fn acquire(pipeline: &Pipeline) -> Result<Option<SinkLock>, StateError> {
        let identities = identities(pipeline);
        if identities.is_empty() {
            return Ok(None);
        }
        let state = match &pipeline.state {
            StateLocation::Path(p) => p.display().to_string(),
            StateLocation::Url(u) => u.split('?').next().unwrap_or_default().to_string(),
        };
        let note = format!(
            "process {} running pipeline `{}` ({}) with state {state} since {}",
            std::process::id(),
            pipeline.name(),
            pipeline.path.display(),
            chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC"),
        );
        SinkLock::acquire_in(&lock_dir(), &identities, &note).map(Some)
    }

    /// Takes one lock per identity in `dir`, writing `note` (who holds it)
    /// into each. All or nothing.
    pub fn acquire_in(
        dir: &Path,
        identities: &[String],
        note: &str,
    ) -> Result<SinkLock, StateError> {
        create_dir(dir)?;
        let mut held = Vec::new();
        for identity in identities {
            let path = dir.join(format!("{}.lock", file_name(identity)));
            let file = open_lock_file(&path)?;
            match FileExt::try_lock(&file) {
                Ok(()) => {}
                Err(fs4::TryLockError::WouldBlock) => {
                    let holder = read_note(&file);
                    return Err(StateError::SinkLocked {
                        sink: describe(identity),
                        holder: crate::terminal::escape(&holder).into_owned(),
                        lock: path,
                    });
                }
                Err(fs4::TryLockError::Error(source)) => {
                    return Err(StateError::LockFile { path, source });
                }
            }
            write_note(&file, note).map_err(|source| StateError::LockFile {
                path: path.clone(),
                source,
            })?;
            held.push((path, file));
        }
        Ok(SinkLock { held })
    }

    /// The lock files held.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.held.iter().map(|(p, _)| p.as_path())
    }
}

impl Drop for SinkLock {
    fn drop(&mut self) {
        for (_, file) in &self.held {
            // Empty the note first, so nobody reads a stale holder.
            let _ = file.set_len(0);
            let _ = FileExt::unlock(file);
        }
    }
}

/// The folder of lock files: `SKOLSYNC_LOCK_DIR`, else
/// `$XDG_RUNTIME_DIR/skolsync-locks`, else `<temp dir>/skolsync-locks`.
pub fn lock_dir() -> PathBuf {
    let from_env = |name| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = from_env(LOCK_DIR_ENV) {
        return dir;
    }
    from_env("XDG_RUNTIME_DIR")
        .unwrap_or_else(std::env::temp_dir)
        .join("skolsync-locks")
}

/// The identities of `pipeline`'s sink that must not be written by two runs
/// at once: Provisioning URL + `client_key_id`, Provisioning URL + the
/// certificate's content. Empty for sinks that need no lock.
pub fn identities(pipeline: &Pipeline) -> Vec<String> {
    let SinkConfig::Skolverket(config) = pipeline.sink() else {
        return Vec::new();
    };
    let url = pipeline.sink_identity();
    if url.is_empty() || url.starts_with("sandbox:") {
        return Vec::new();
    }
    let mut out = Vec::new();
    if let Some(key_id) = config
        .client_key_id
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty())
    {
        out.push(format!("{url}\nclient_key_id {}", key_id.to_lowercase()));
    }
    let cert = config
        .client_cert
        .as_ref()
        .or(config.client_pkcs12.as_ref());
    if let Some(hash) = cert.and_then(|c| file_hash(&resolve(&pipeline.base_dir, c))) {
        out.push(format!("{url}\ncertificate {hash}"));
    }
    if out.is_empty() {
        // No identity to tell clients apart: one run per URL.
        out.push(url);
    }
    out
}

/// SHA-256 of a regular file of reasonable size, in hex.
fn file_hash(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > MAX_CERT_BYTES {
        return None;
    }
    let bytes = std::fs::read(path).ok()?;
    Some(hex(&Sha256::digest(&bytes)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The lock file's name for an identity (which may hold a URL).
fn file_name(identity: &str) -> String {
    let mut name = hex(&Sha256::digest(identity.as_bytes()));
    name.truncate(32);
    name
}

/// An identity as a person reads it (the certificate hash shortened).
fn describe(identity: &str) -> String {
    let mut parts = identity.splitn(2, '\n');
    let url = parts.next().unwrap_or_default();
    match parts.next() {
        Some(rest) if rest.starts_with("certificate ") => {
            let hash = rest.trim_start_matches("certificate ");
            format!(
                "{url} with the certificate {}…",
                hash.get(..12).unwrap_or(hash)
            )
        }
        Some(rest) => format!("{url} as {}", rest.replace("client_key_id ", "")),
        None => url.to_string(),
    }
}

/// Creates the lock folder (`0700`) if missing.
fn create_dir(dir: &Path) -> Result<(), StateError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|source| StateError::LockFile {
        path: dir.to_path_buf(),
        source,
    })
}

/// Opens (creating) a lock file; refuses anything but a regular file (a
/// symlink planted in a shared temp folder is not followed into).
fn open_lock_file(path: &Path) -> Result<File, StateError> {
    let err = |source| StateError::LockFile {
        path: path.to_path_buf(),
        source,
    };
    if let Ok(meta) = std::fs::symlink_metadata(path)
        && !meta.is_file()
    {
        return Err(err(std::io::Error::other("not a regular file")));
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path).map_err(err)?;
    let opened = file.metadata().map_err(err)?;
    let named = std::fs::symlink_metadata(path).map_err(err)?;
    #[cfg(unix)]
    let same = {
        use std::os::unix::fs::MetadataExt;
        opened.dev() == named.dev() && opened.ino() == named.ino()
    };
    #[cfg(not(unix))]
    let same = true;
    if !opened.is_file() || !named.is_file() || !same {
        return Err(err(std::io::Error::other("not a regular file")));
    }
    Ok(file)
}

fn write_note(mut file: &File, note: &str) -> std::io::Result<()> {
    file.set_len(0)?;
    file.rewind()?;
    file.write_all(note.as_bytes())?;
    file.write_all(b"\n")?;
    file.flush()
}

/// Who holds a lock, as its holder wrote it (or a placeholder).
fn read_note(file: &File) -> String {
    let mut text = String::new();
    let mut reader = file;
    let read = reader
        .rewind()
        .and_then(|()| reader.take(MAX_NOTE_BYTES).read_to_string(&mut text));
    match read {
        Ok(_) if !text.trim().is_empty() => text.trim().to_string(),
        _ => "another process (it left no note)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(key_id: &str) -> Vec<String> {
        vec![format!(
            "https://api.example/provtjanst/provisioning/v1\nclient_key_id {key_id}"
        )]
    }

    #[test]
    fn a_second_holder_is_refused_and_named_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = SinkLock::acquire_in(
            dir.path(),
            &ids("https://a.se"),
            "process 11 running pipeline `a` with state state/a.sqlite",
        )
        .unwrap();
        // Another handle (as another process would have): refused.
        let err = SinkLock::acquire_in(dir.path(), &ids("https://a.se"), "process 12").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("already running"), "{text}");
        assert!(
            text.contains("process 11") && text.contains("state/a.sqlite"),
            "{text}"
        );
        assert!(text.contains("https://a.se"), "{text}");
        // Another client at the same URL is not affected.
        let other = SinkLock::acquire_in(dir.path(), &ids("https://b.se"), "process 13");
        assert!(other.is_ok());
        drop(first);
        let again = SinkLock::acquire_in(dir.path(), &ids("https://a.se"), "process 12");
        assert!(again.is_ok());
    }

    #[test]
    fn all_or_nothing_over_several_identities() {
        let dir = tempfile::tempdir().unwrap();
        let by_cert = vec!["https://x\ncertificate abcdef0123456789".to_string()];
        let _held = SinkLock::acquire_in(dir.path(), &by_cert, "process 1").unwrap();
        // Same certificate under a key id: still the same client.
        let both = vec![ids("https://a.se").remove(0), by_cert[0].clone()];
        let err = SinkLock::acquire_in(dir.path(), &both, "process 2").unwrap_err();
        assert!(
            err.to_string().contains("certificate abcdef012345"),
            "{err}"
        );
        // The key-id lock taken before the failure was released.
        assert!(SinkLock::acquire_in(dir.path(), &ids("https://a.se"), "process 3").is_ok());
    }

    #[test]
    fn control_characters_in_a_note_are_escaped() {
        let dir = tempfile::tempdir().unwrap();
        let _held =
            SinkLock::acquire_in(dir.path(), &ids("k"), "pipeline `\u{1b}[2Jevil`").unwrap();
        let err = SinkLock::acquire_in(dir.path(), &ids("k"), "x").unwrap_err();
        assert!(!err.to_string().contains('\u{1b}'), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_in_place_of_a_lock_file_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep me").unwrap();
        let path = dir.path().join(format!("{}.lock", file_name(&ids("k")[0])));
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        let err = SinkLock::acquire_in(dir.path(), &ids("k"), "x").unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    }
}
