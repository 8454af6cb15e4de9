//! Writing the report files: `<reports>/<pipeline>/<run-id>.json` and
//! `.html`, each written to a temporary file and renamed, so a reader never
//! sees half a report. Mode `0600`: reports name pupils' records.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::{RunReport, to_html};

/// Where a run's report files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportPaths {
    /// The JSON report.
    pub json: PathBuf,
    /// The HTML report.
    pub html: PathBuf,
}

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file or directory could not be written.
    #[error("cannot write the report {}: {source}", path.display())]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The report could not be serialised.
    #[error("cannot serialise the report: {0}")]
    Json(#[from] serde_json::Error),
}

/// The report as pretty-printed JSON.
pub fn to_json(report: &RunReport) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(report)
}

/// Writes the JSON and HTML reports under `reports_dir/<pipeline>/`.
pub fn write_reports(report: &RunReport, reports_dir: &Path) -> Result<ReportPaths, ReportError> {
    let dir = reports_dir.join(file_name(&report.pipeline));
    std::fs::create_dir_all(&dir).map_err(|source| ReportError::Write {
        path: dir.clone(),
        source,
    })?;
    let stem = file_name(&report.run_id);
    let paths = ReportPaths {
        json: dir.join(format!("{stem}.json")),
        html: dir.join(format!("{stem}.html")),
    };
    let mut json = to_json(report)?;
    json.push('\n');
    write_file(&paths.json, json.as_bytes())?;
    write_file(&paths.html, to_html(report).as_bytes())?;
    Ok(paths)
}

/// `name` made safe as one path component.
fn file_name(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe.is_empty() || safe.chars().all(|c| c == '.') {
        "_".into()
    } else {
        safe
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    let err = |source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp).map_err(err)?;
    file.write_all(bytes).map_err(err)?;
    file.sync_all().map_err(err)?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::file_name;

    #[test]
    fn names_cannot_leave_the_reports_directory() {
        assert_eq!(file_name("../../etc/passwd"), ".._.._etc_passwd");
        assert_eq!(file_name(".."), "_");
        assert_eq!(file_name("linköping-dnp"), "linköping-dnp");
    }
}
