//! Source connectors: IST EduCloud, any SS 12000 v2 API, CSV exports and
//! Excel workbooks.
//!
//! Every connector implements [`Source`]: it streams typed SS 12000 entities
//! ([`skolsync_model::ss12000`]) in batches, with the records it could not
//! read on the side as [`Reject`](skolsync_model::reject::Reject)s, and ends
//! with [`Batch::Complete`] carrying the watermark for the next incremental
//! read. [`collect`] gathers a whole read into a
//! [`Snapshot`](skolsync_model::ss12000::Snapshot), the transform's input.
//!
//! Components (one folder each, `config.rs` + constructor + reader):
//! - [`educloud`]: IST EduCloud (OAuth2 client credentials, org identifier).
//! - [`ss12000`]: any SS 12000 v2 API (none, bearer, OAuth2, mutual TLS).
//! - [`csv`]: Skolverket's file-upload template or a flat file-per-entity layout.
//! - [`xlsx`]: the same two layouts in an Excel workbook (the template's
//!   four sheets, or a sheet per entity type).
//!
//! Next to them, [`open_data`] reads Skolverket's Open-data catalogue that
//! the transform checks references against.
//!
//! The two API connectors share the HTTP machinery in `api` (rate limit,
//! retries with backoff, token cache, paging, per-entity parsing), their
//! incremental reads (both change filters, `/deletedEntities`, kinds sent
//! in full when a server ignores a filter) and the SS 12000
//! `/subscriptions` endpoints ([`Subscriptions`]).

mod api;
pub mod csv;
pub mod educloud;
mod error;
pub mod open_data;
mod shape;
mod source;
pub mod ss12000;
mod subscription;
pub mod xlsx;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use skolsync_model::BuildContext;
use skolsync_model::sandbox::{Endpoints, Redirect};

pub use error::{ConfigError, ConfigErrors, SourceError};
pub use shape::{InputShape, ReadAnomaly, ReadCheck};
pub use source::{
    Batch, BatchStream, EntityVisitor, ReadOptions, ReadProgress, ReadSummary, Source, collect,
};
pub use subscription::{NewSubscription, Subscription, Subscriptions};

/// Declares the source kinds, one line each: the `kind` value, the
/// variant of [`SourceConfig`], the component's folder, its config type and
/// its source type. From that one list come the `[source]` section's type,
/// [`build`] and [`sandbox_redirect`]. A component's folder provides
/// `config::sandbox_redirect(&Endpoints) -> Option<Redirect>` and a
/// `new(&Config, &BuildContext) -> Result<Source, ConfigErrors>` constructor.
macro_rules! source_kinds {
    ($( $(#[$doc:meta])* $kind:literal => $variant:ident($module:ident::$config:ident, $source:ident), )+) => {
        /// The `[source]` section of a pipeline file, chosen by `kind`.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
        #[serde(tag = "kind")]
        // Read once per run; the size of the flat CSV column table is irrelevant.
        #[allow(clippy::large_enum_variant)]
        pub enum SourceConfig {
            $( $(#[$doc])* #[serde(rename = $kind)] $variant($module::$config), )+
        }

        /// Validates `config` and builds its source, reporting every problem
        /// at once. Relative paths in the config resolve against the
        /// context's folder (the pipeline file's).
        pub fn build(config: &SourceConfig, ctx: &BuildContext) -> Result<Box<dyn Source>, ConfigErrors> {
            match config {
                $( SourceConfig::$variant(c) => Ok(Box::new($module::$source::new(c, ctx)?)), )+
            }
        }

        /// How a `[source]` of `kind` is pointed at the sandbox, if it
        /// talks to a service at all (CSV files are local already).
        pub fn sandbox_redirect(kind: &str, endpoints: &Endpoints) -> Option<Redirect> {
            match kind {
                $( $kind => $module::config::sandbox_redirect(endpoints), )+
                _ => None,
            }
        }
    };
}

source_kinds! {
    /// IST EduCloud.
    "educloud" => Educloud(educloud::EduCloudConfig, EduCloudSource),
    /// Any SS 12000 v2 API.
    "ss12000" => Ss12000(ss12000::Ss12000Config, Ss12000Source),
    /// CSV exports.
    "csv" => Csv(csv::CsvConfig, CsvSource),
    /// An Excel workbook.
    "xlsx" => Xlsx(xlsx::XlsxConfig, XlsxSource),
}

/// Resolves a configured path against a folder (the model's one rule).
pub(crate) use skolsync_model::build_context::resolve;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_and_layout_reads_from_one_section() {
        let cases = [
            "kind = \"educloud\"\norg_identifier = \"SE1\"\nclient_id = \"i\"\nclient_secret = \"s\"",
            "kind = \"ss12000\"\nbase_url = \"https://x/v2.0\"\nauth = { type = \"none\" }",
            "kind = \"csv\"\nlayout = \"skolverket-template\"\nstudents = \"e.csv\"",
            "kind = \"csv\"\nlayout = \"flat\"\ndir = \"export\"",
            "kind = \"xlsx\"\nlayout = \"skolverket-template\"\nworkbook = \"a.xlsx\"",
            "kind = \"xlsx\"\nlayout = \"flat\"\nworkbook = \"a.xlsx\"",
        ];
        for text in cases {
            let config: SourceConfig = toml::from_str(text).unwrap();
            assert!(
                build(&config, &BuildContext::new("/pipelines")).is_ok(),
                "{text}"
            );
        }
        let err = toml::from_str::<SourceConfig>("kind = \"ftp\"").unwrap_err();
        assert!(err.to_string().contains("ftp"), "{err}");
        let err = toml::from_str::<SourceConfig>(
            "kind = \"csv\"\nlayout = \"flat\"\ndir = \"x\"\nstudents = \"e.csv\"",
        )
        .unwrap_err();
        assert!(err.to_string().contains("students"), "{err}");
    }

    #[test]
    fn the_json_schema_covers_every_kind() {
        let schema = serde_json::to_string(&schemars::schema_for!(SourceConfig)).unwrap();
        for word in [
            "educloud",
            "ss12000",
            "skolverket-template",
            "org_identifier",
            "oauth2",
            "xlsx",
            "workbook",
        ] {
            assert!(schema.contains(word), "{word} missing from the schema");
        }
    }
}
