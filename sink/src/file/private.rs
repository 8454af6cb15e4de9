//! Files and folders only their owner can read: everything skolsync writes
//! holds personal data (personnummer) in full.

use std::fs::{DirBuilder, File, OpenOptions};
use std::path::Path;

/// Creates (or empties) `path` as a file only its owner can read and write
/// (`0600` on Unix). An existing file keeps its inode, so its mode is
/// tightened too (`mode` applies only to files being created, and a crash
/// may have left one behind with a wider mode); anything but a regular
/// file (a symlink, a FIFO) is refused rather than written through.
pub fn create_private(path: &Path) -> std::io::Result<File> {
    if let Ok(meta) = std::fs::symlink_metadata(path)
        && !meta.is_file()
    {
        return Err(std::io::Error::other(
            "exists and is not a regular file; remove it first",
        ));
    }
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

/// Creates `dir` (and its parents) when missing, only its owner may enter
/// it (`0700` on Unix); an existing folder is left as it is.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}
