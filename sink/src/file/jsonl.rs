//! JSON Lines files written as batches arrive (`skolsync extract`), so
//! memory stays at a batch however large the source. Each file is created
//! (or emptied) up front with [`create_private`], in a folder made with
//! [`create_private_dir`].

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::private::{create_private, create_private_dir};
use crate::error::SinkError;

/// One `<name>.jsonl` per name, in one folder, with a line count each.
#[derive(Debug)]
pub struct JsonlFiles {
    dir: PathBuf,
    files: BTreeMap<&'static str, BufWriter<File>>,
    counts: BTreeMap<&'static str, u64>,
}

impl JsonlFiles {
    /// Creates `dir` if missing and an empty `<name>.jsonl` for each name.
    pub fn create(dir: &Path, names: &[&'static str]) -> Result<JsonlFiles, SinkError> {
        create_private_dir(dir).map_err(|e| write_error(dir, &e))?;
        let mut files = BTreeMap::new();
        for name in names {
            let path = path(dir, name);
            let file = create_private(&path).map_err(|e| write_error(&path, &e))?;
            files.insert(*name, BufWriter::new(file));
        }
        Ok(JsonlFiles {
            dir: dir.to_path_buf(),
            files,
            counts: names.iter().map(|n| (*n, 0)).collect(),
        })
    }

    /// Appends one line per item to `<name>.jsonl`.
    pub fn write<T: Serialize>(&mut self, name: &str, items: &[T]) -> Result<(), SinkError> {
        let path = path(&self.dir, name);
        let (Some(out), Some(count)) = (self.files.get_mut(name), self.counts.get_mut(name)) else {
            return Err(SinkError::Write {
                path,
                message: "not one of the files created".to_string(),
            });
        };
        for item in items {
            serde_json::to_writer(&mut *out, item)
                .and_then(|()| out.write_all(b"\n").map_err(serde_json::Error::io))
                .map_err(|e| write_error(&path, &e))?;
        }
        *count += items.len() as u64;
        Ok(())
    }

    /// Flushes every file; the lines written per name.
    pub fn finish(mut self) -> Result<BTreeMap<&'static str, u64>, SinkError> {
        for (name, file) in &mut self.files {
            file.flush()
                .map_err(|e| write_error(&path(&self.dir, name), &e))?;
        }
        Ok(self.counts)
    }
}

fn path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.jsonl"))
}

fn write_error(path: &Path, error: &dyn std::fmt::Display) -> SinkError {
    SinkError::Write {
        path: path.to_path_buf(),
        message: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: [&str; 2] = ["persons", "deleted"];

    #[cfg(unix)]
    #[test]
    fn files_are_private_and_never_written_through_a_link() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        // An existing file with a loose mode is emptied and tightened.
        std::fs::create_dir(&out).unwrap();
        let loose = out.join("persons.jsonl");
        std::fs::write(&loose, "old").unwrap();
        std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut files = JsonlFiles::create(&out, &NAMES).unwrap();
        files.write("persons", &[1, 2]).unwrap();
        assert!(files.write("groups", &[1]).is_err());
        let counts = files.finish().unwrap();
        assert_eq!(counts["persons"], 2);
        assert_eq!(counts["deleted"], 0);
        for name in NAMES {
            assert_eq!(mode(&path(&out, name)), 0o600, "{name}");
        }
        assert_eq!(std::fs::read_to_string(&loose).unwrap(), "1\n2\n");
        // A new folder is private too.
        let fresh = dir.path().join("fresh/out");
        JsonlFiles::create(&fresh, &NAMES)
            .unwrap()
            .finish()
            .unwrap();
        assert_eq!(mode(&fresh), 0o700);
        // A symlink in place of an output file is refused, its target kept.
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        std::fs::remove_file(&loose).unwrap();
        std::os::unix::fs::symlink(&victim, &loose).unwrap();
        assert!(JsonlFiles::create(&out, &NAMES).is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
    }
}
