//! `[sink]` with `kind = "skolverket-file"`: Skolverket's file method. The
//! run writes the upload workbook (Skolverket's template) into `dir`; an
//! ombud uploads it in Administration provtjänsten and confirms that with
//! `skolsync confirm-upload`.
//!
//! ```toml
//! [sink]
//! kind = "skolverket-file"
//! dir = "upload"                            # relative to the pipeline file
//! # file_name = "provtjanst-{timestamp}.xlsx"
//! # environment = "production"              # whose open-data checks the data
//! ```

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use skolsync_model::sandbox::{Endpoints, Redirect};

use crate::skolverket::config::{Environment, SkolverketConfig};

/// The placeholder of [`UploadConfig::file_name`] replaced by the time the
/// file is written.
pub const TIMESTAMP: &str = "{timestamp}";

/// Settings of the `skolverket-file` sink.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadConfig {
    /// The folder the workbooks are written into (created if missing, only
    /// its owner may enter it); relative paths are taken from the pipeline
    /// file's folder.
    pub dir: PathBuf,
    /// The workbook's file name; `{timestamp}` becomes the UTC time it is
    /// written (`20261203-141502`), so every run writes a new file. An
    /// existing file is never overwritten unless the run is given
    /// `--force`. Default `provtjanst-{timestamp}.xlsx`.
    #[serde(default = "default_file_name")]
    pub file_name: String,
    /// Whose Open-data API the transform checks school units and test
    /// activities against when the pipeline names none: `production`
    /// (default — files are uploaded in the production e-service) or
    /// `verifieringstest`.
    #[serde(default)]
    pub environment: Option<Environment>,
    /// The Open-data API base URL, overriding `environment`'s.
    #[serde(default)]
    pub open_data_url: Option<String>,
}

fn default_file_name() -> String {
    format!("provtjanst-{TIMESTAMP}.xlsx")
}

impl UploadConfig {
    /// The Open-data API for a transform that names none: `open_data_url`,
    /// else the environment's (production when none is set).
    pub fn open_data_url(&self) -> Option<String> {
        SkolverketConfig::url_or_preset(
            self.open_data_url.as_deref(),
            Environment::open_data_url,
            Some(self.environment.unwrap_or(Environment::Production)),
        )
        .map(|u| u.trim().trim_end_matches('/').to_string())
    }
}

/// Points a `skolverket-file` `[sink]` at the sandbox: its Open-data API.
pub fn sandbox_redirect(e: &Endpoints) -> Redirect {
    Redirect::removing(&["environment"]).set("open_data_url", &e.open_data_url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_open_data() {
        let c: UploadConfig = toml::from_str(r#"dir = "upload""#).unwrap();
        assert_eq!(c.file_name, "provtjanst-{timestamp}.xlsx");
        assert_eq!(
            c.open_data_url().as_deref(),
            Some(Environment::Production.open_data_url())
        );
        let c: UploadConfig =
            toml::from_str("dir = \"u\"\nenvironment = \"verifieringstest\"").unwrap();
        assert_eq!(
            c.open_data_url().as_deref(),
            Some(Environment::Verifieringstest.open_data_url())
        );
        let typo = toml::from_str::<UploadConfig>("dir = \"u\"\nfilename = \"x.xlsx\"")
            .unwrap_err()
            .to_string();
        assert!(typo.contains("filename"), "{typo}");
    }
}
