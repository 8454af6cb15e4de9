//! What every component is built with: the pipeline file's folder, against
//! which every relative path in the file is resolved — by one function,
//! [`resolve`], for the source, the transform, the sink and the engine
//! alike.

use std::path::{Path, PathBuf};

/// What a component's constructor gets besides its own section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildContext {
    base_dir: PathBuf,
    overwrite: bool,
}

impl BuildContext {
    /// The context of a pipeline file in `base_dir`.
    pub fn new(base_dir: impl Into<PathBuf>) -> BuildContext {
        BuildContext {
            base_dir: base_dir.into(),
            overwrite: false,
        }
    }

    /// The same context, allowed (`true`) to replace files a sink would
    /// otherwise refuse to write over (`run --force`).
    pub fn with_overwrite(mut self, overwrite: bool) -> BuildContext {
        self.overwrite = overwrite;
        self
    }

    /// Whether a sink may replace an existing file it would write.
    pub fn overwrite(&self) -> bool {
        self.overwrite
    }

    /// The pipeline file's folder.
    pub fn base_dir(&self) -> &Path {
        &self.base_dir
    }

    /// `path` as the pipeline file means it: absolute as written, relative
    /// to the file's folder otherwise.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        resolve(&self.base_dir, path)
    }
}

/// `path` resolved against `base` (kept when absolute).
pub fn resolve(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_resolve_against_the_pipeline_folder() {
        let ctx = BuildContext::new("/p");
        assert_eq!(
            ctx.resolve(Path::new("data/e.csv")),
            Path::new("/p/data/e.csv")
        );
        assert_eq!(ctx.resolve(Path::new("/abs")), Path::new("/abs"));
    }
}
