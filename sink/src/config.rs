//! The `[sink]` section of a pipeline file: which sink, and its settings.
//!
//! Each sink's own settings live in its component's `config.rs`
//! ([`crate::skolverket::config`], [`crate::file::config`]); this enum picks
//! one by `kind`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Delivery;
use crate::file::Format;
use crate::file::config::{Content, FileConfig};
use crate::pull::config::PullConfig;
use crate::skolverket::config::SkolverketConfig;
use crate::upload::config::UploadConfig;

/// Where the plan goes, chosen by `kind`.
// Read once per run: the size difference between the variants is of no
// consequence, and unboxed variants keep matching on them simple.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum SinkConfig {
    /// Skolverket's Provisioning API (provtjänst).
    Skolverket(SkolverketConfig),
    /// Skolverket's pull method: the DNP profile served by `skolsync serve`
    /// for Skolverket's SS12000 client, which is notified after each run.
    #[serde(rename = "ss12000-pull")]
    Ss12000Pull(PullConfig),
    /// Skolverket's file method: the upload workbook (the Excel template)
    /// for Administration provtjänsten, after the first file only what
    /// changed.
    #[serde(rename = "skolverket-file")]
    SkolverketFile(UploadConfig),
    /// One JSON Lines file per entity type.
    Jsonl(FileConfig),
    /// One CSV file per entity type.
    Csv(FileConfig),
    /// One Parquet file per entity type.
    Parquet(FileConfig),
}

/// How a `[sink]` of `kind` is pointed at the sandbox, if it talks to a
/// service at all (file sinks write locally).
pub fn sandbox_redirect(
    kind: &str,
    endpoints: &skolsync_model::sandbox::Endpoints,
) -> Option<skolsync_model::sandbox::Redirect> {
    match kind {
        "skolverket" => Some(crate::skolverket::config::sandbox_redirect(endpoints)),
        "ss12000-pull" => Some(crate::pull::config::sandbox_redirect(endpoints)),
        "skolverket-file" => Some(crate::upload::config::sandbox_redirect(endpoints)),
        _ => None,
    }
}

/// Which component a `[sink]` section is for: the Provisioning API, or the
/// file sink in one of its formats.
#[derive(Debug, Clone, Copy)]
pub enum SinkComponent<'a> {
    /// Skolverket's Provisioning API.
    Skolverket(&'a SkolverketConfig),
    /// The served dataset of the pull method.
    Pull(&'a PullConfig),
    /// The upload workbook of the file method.
    Upload(&'a UploadConfig),
    /// Files of one format.
    File(Format, &'a FileConfig),
}

impl SinkConfig {
    /// The component this section configures: the one place that knows
    /// which kinds write files, and in which format.
    pub fn component(&self) -> SinkComponent<'_> {
        match self {
            SinkConfig::Skolverket(c) => SinkComponent::Skolverket(c),
            SinkConfig::Ss12000Pull(c) => SinkComponent::Pull(c),
            SinkConfig::SkolverketFile(c) => SinkComponent::Upload(c),
            SinkConfig::Jsonl(c) => SinkComponent::File(Format::Jsonl, c),
            SinkConfig::Csv(c) => SinkComponent::File(Format::Csv, c),
            SinkConfig::Parquet(c) => SinkComponent::File(Format::Parquet, c),
        }
    }

    /// The `kind` value.
    pub fn kind(&self) -> &'static str {
        match self.component() {
            SinkComponent::Skolverket(_) => "skolverket",
            SinkComponent::Pull(_) => "ss12000-pull",
            SinkComponent::Upload(_) => "skolverket-file",
            SinkComponent::File(format, _) => format.extension(),
        }
    }

    /// What a pipeline with this sink does: export the source as SS 12000
    /// files (a file sink with `content = "ss12000"`) or carry out a plan.
    pub fn delivery(&self) -> Delivery {
        match self.component() {
            SinkComponent::File(_, c) if c.content == Content::Ss12000 => Delivery::Snapshot,
            _ => Delivery::Plan,
        }
    }

    /// The Open-data API of the sink's environment, for a transform that
    /// names none (the `skolverket` and `ss12000-pull` sinks imply one).
    pub fn open_data_url(&self) -> Option<String> {
        match self.component() {
            SinkComponent::Skolverket(c) => c.open_data_url(),
            SinkComponent::Pull(c) => c.open_data_url(),
            SinkComponent::Upload(c) => c.open_data_url(),
            SinkComponent::File(..) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::skolverket::config::Environment;

    #[test]
    fn sections_parse_by_kind_and_refuse_unknown_keys() {
        let skolverket: SinkConfig = toml::from_str(
            r#"
            kind = "skolverket"
            environment = "verifieringstest"
            client_cert = "/etc/skolsync/huvudman.crt"
            client_key = "/etc/skolsync/huvudman.key"
            client_key_id = "https://testhuvudman.se"
            "#,
        )
        .unwrap();
        let SinkConfig::Skolverket(c) = &skolverket else {
            panic!("not skolverket: {skolverket:?}");
        };
        assert_eq!(c.environment, Some(Environment::Verifieringstest));
        assert_eq!(c.client_key_id.as_deref(), Some("https://testhuvudman.se"));
        assert_eq!(c.bulk_per_second, 5);
        assert_eq!(c.read_per_second, 10);

        let parquet: SinkConfig = toml::from_str(
            r#"
            kind = "parquet"
            dir = "out"
            content = "ss12000"
            "#,
        )
        .unwrap();
        assert!(matches!(&parquet, SinkConfig::Parquet(c) if c.content == Content::Ss12000));
        assert_eq!(parquet.delivery(), Delivery::Snapshot);
        assert_eq!(parquet.open_data_url(), None);
        assert_eq!(skolverket.delivery(), Delivery::Plan);
        assert_eq!(
            skolverket.open_data_url().as_deref(),
            Some(Environment::Verifieringstest.open_data_url())
        );

        let typo = toml::from_str::<SinkConfig>(
            r#"
            kind = "skolverket"
            enviroment = "production"
            "#,
        )
        .unwrap_err()
        .to_string();
        assert!(typo.contains("enviroment"), "{typo}");
        let unknown = toml::from_str::<SinkConfig>(r#"kind = "ftp""#)
            .unwrap_err()
            .to_string();
        assert!(unknown.contains("ftp"), "{unknown}");
    }

    #[test]
    fn schema_names_every_kind() {
        let schema = serde_json::to_string(&schemars::schema_for!(SinkConfig)).unwrap();
        for kind in [
            "skolverket",
            "ss12000-pull",
            "skolverket-file",
            "jsonl",
            "csv",
            "parquet",
            "pinned_pubkey",
        ] {
            assert!(schema.contains(kind), "{kind} missing from the schema");
        }
    }
}
