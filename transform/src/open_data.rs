//! Skolverket's open-data: read from the API or from a snapshot file.
//!
//! The transform checks every school unit, programme and test activity it is
//! about to reference against [`OpenData`]. A run reads it from the Open-data
//! API ([`OpenData::fetch`]) or, offline, from a snapshot file that
//! `skolsync open-data pull` wrote ([`OpenData::save`], [`OpenData::load`]).
//!
//! The API has no "all school units" list: school units come from the
//! organisers (`/organisations/code/{orgnr}?expandSchoolUnits=true`) and, for
//! codes the organisers do not cover, one by one (`/schoolUnits/code/{code}`;
//! a 404 just means Skolverket does not know the code, which the transform
//! then reports per record). Programmes and test activities are full lists.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use skolsync_model::OrganisationType;
use skolsync_model::open_data::{Organisation, Programme, SchoolUnit, TestActivity};
use skolsync_model::ss12000::Snapshot;

use crate::config::{PRODUCTION_OPEN_DATA_URL, TransformConfig};

/// What open-data publishes that the transform needs; also the snapshot
/// file format (JSON).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OpenData {
    /// The organisers that were read (their `schoolUnits` moved to
    /// [`OpenData::school_units`]).
    #[serde(default)]
    pub organisations: Vec<Organisation>,
    /// School units with status, dnpStatus, school types and years.
    #[serde(default)]
    pub school_units: Vec<SchoolUnit>,
    /// Programmes (studievägar) with their education codes.
    #[serde(default)]
    pub programmes: Vec<Programme>,
    /// National test activities (`/activities`).
    #[serde(default)]
    pub test_activities: Vec<TestActivity>,
    /// When the data was read (RFC 3339), for snapshot files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetched_at: Option<String>,
    /// The API it was read from, for snapshot files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_url: Option<String>,
}

/// Why open-data could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum OpenDataError {
    /// The HTTP client could not be built (TLS setup).
    #[error("cannot set up the HTTP client for open-data")]
    Client(#[source] reqwest::Error),
    /// The request failed (network, timeout) even after retries.
    #[error("open-data request GET {url} failed")]
    Request {
        /// The URL.
        url: String,
        /// What went wrong.
        #[source]
        source: reqwest::Error,
    },
    /// The API answered with an error status.
    #[error("open-data GET {url} answered {status}: {message}")]
    Status {
        /// The URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// The body's message, or the body itself, shortened.
        message: String,
    },
    /// The body was not what the spec describes.
    #[error("open-data GET {url}: unexpected answer at `{path}`: {message}")]
    Parse {
        /// The URL.
        url: String,
        /// Where in the JSON.
        path: String,
        /// What was wrong.
        message: String,
    },
    /// A snapshot file could not be read or written.
    #[error("cannot read or write the open-data snapshot {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// A snapshot file is not a snapshot.
    #[error("open-data snapshot {path} is not valid: at `{at}`: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// Where in the JSON.
        at: String,
        /// What was wrong.
        message: String,
    },
}

/// HTTP client settings for reading open-data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// Timeout of each request.
    pub timeout: Duration,
    /// Extra attempts after a network error, 429 or 5xx (with backoff).
    pub retries: u32,
    /// First backoff; doubled per attempt.
    pub backoff: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(30),
            retries: 3,
            backoff: Duration::from_millis(500),
        }
    }
}

/// Which organisers and school units to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchScope {
    /// Organisation numbers whose school units are read in one call each.
    pub organisation_numbers: Vec<String>,
    /// School unit codes to read one by one unless an organiser covered them.
    pub school_unit_codes: Vec<String>,
}

impl FetchScope {
    /// What a run over `snapshot` needs: the configured organisation numbers
    /// (else those of the source's `Huvudman` organisations), and every
    /// school unit code of the source and of the configured scope.
    pub fn for_snapshot(config: &TransformConfig, snapshot: &Snapshot) -> Self {
        let organisation_numbers: BTreeSet<String> = if config.organisation_numbers.is_empty() {
            snapshot
                .organisations
                .iter()
                .filter(|o| o.organisation_type == OrganisationType::Huvudman)
                .filter_map(|o| o.organisation_number.as_deref())
                .map(|n| n.trim().replace('-', ""))
                .filter(|n| !n.is_empty())
                .collect()
        } else {
            config
                .organisation_numbers
                .iter()
                .map(|n| n.trim().replace('-', ""))
                .collect()
        };
        let school_unit_codes: BTreeSet<String> = snapshot
            .organisations
            .iter()
            .filter_map(|o| o.school_unit_code.as_deref())
            .chain(config.school_units.iter().map(String::as_str))
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty())
            .collect();
        FetchScope {
            organisation_numbers: organisation_numbers.into_iter().collect(),
            school_unit_codes: school_unit_codes.into_iter().collect(),
        }
    }
}

impl OpenData {
    /// Reads what the transform needs from the Open-data API at `base_url`
    /// (e.g. [`PRODUCTION_OPEN_DATA_URL`]): the organisers of `scope` with
    /// their school units, the school unit codes they did not cover, all
    /// programmes and all test activities.
    pub async fn fetch(
        base_url: &str,
        scope: &FetchScope,
        options: &ClientOptions,
    ) -> Result<OpenData, OpenDataError> {
        let client = reqwest::Client::builder()
            .timeout(options.timeout)
            .user_agent(concat!("skolsync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(OpenDataError::Client)?;
        let api = Api {
            client,
            base: base_url.trim_end_matches('/').to_string(),
            options: options.clone(),
        };

        let mut data = OpenData {
            fetched_at: Some(Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)),
            source_url: Some(api.base.clone()),
            ..OpenData::default()
        };
        let mut covered = BTreeSet::new();
        for number in &scope.organisation_numbers {
            let path = format!("/organisations/code/{number}?expandSchoolUnits=true");
            let Some(mut organisation) = api.get::<Organisation>(&path).await? else {
                tracing::warn!(
                    organisation_number = %number,
                    "open-data does not know this organisation number; its school units are looked up one by one"
                );
                continue;
            };
            for unit in organisation.school_units.take().unwrap_or_default() {
                if covered.insert(unit.school_unit_code.clone()) {
                    data.school_units.push(unit);
                }
            }
            data.organisations.push(organisation);
        }
        for code in &scope.school_unit_codes {
            if covered.contains(code) {
                continue;
            }
            if let Some(unit) = api
                .get::<SchoolUnit>(&format!("/schoolUnits/code/{code}"))
                .await?
            {
                covered.insert(unit.school_unit_code.clone());
                data.school_units.push(unit);
            }
        }
        data.programmes = api
            .get::<Vec<Programme>>("/programmes")
            .await?
            .unwrap_or_default();
        data.test_activities = api
            .get::<Vec<TestActivity>>("/activities")
            .await?
            .unwrap_or_default();
        Ok(data)
    }

    /// Reads open-data as the transform config says: the snapshot file when
    /// `open_data_file` is set, else the API at `open_data_url` (production
    /// by default) for what `snapshot` needs.
    pub async fn obtain(
        config: &TransformConfig,
        snapshot: &Snapshot,
        options: &ClientOptions,
    ) -> Result<OpenData, OpenDataError> {
        if let Some(path) = &config.open_data_file {
            return OpenData::load(path);
        }
        let url = config
            .open_data_url
            .as_deref()
            .unwrap_or(PRODUCTION_OPEN_DATA_URL);
        OpenData::fetch(url, &FetchScope::for_snapshot(config, snapshot), options).await
    }

    /// Reads a snapshot file.
    pub fn load(path: &Path) -> Result<OpenData, OpenDataError> {
        let bytes = std::fs::read(path).map_err(|source| OpenDataError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        serde_path_to_error_lite(&mut de).map_err(|(at, message)| OpenDataError::File {
            path: path.to_path_buf(),
            at,
            message,
        })
    }

    /// Writes a snapshot file (pretty JSON), replacing it atomically.
    pub fn save(&self, path: &Path) -> Result<(), OpenDataError> {
        let io = |source| OpenDataError::Io {
            path: path.to_path_buf(),
            source,
        };
        let json = serde_json::to_vec_pretty(self).map_err(|e| io(std::io::Error::other(e)))?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, json).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }
}

/// Reads an [`OpenData`] naming the JSON path of the first problem. The
/// model crate's `serde_path_to_error` is not a dependency here; serde_json's
/// line/column is as good for a file.
fn serde_path_to_error_lite(
    de: &mut serde_json::Deserializer<serde_json::de::SliceRead<'_>>,
) -> Result<OpenData, (String, String)> {
    let data = OpenData::deserialize(&mut *de).map_err(|e| {
        (
            format!("line {} column {}", e.line(), e.column()),
            e.to_string(),
        )
    })?;
    de.end().map_err(|e| {
        (
            format!("line {} column {}", e.line(), e.column()),
            e.to_string(),
        )
    })?;
    Ok(data)
}

/// A small client of the Open-data API with retries.
struct Api {
    client: reqwest::Client,
    base: String,
    options: ClientOptions,
}

impl Api {
    /// GETs `path` and parses it; `Ok(None)` for a 404.
    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>, OpenDataError> {
        let url = format!("{}{path}", self.base);
        let mut attempt = 0u32;
        loop {
            let retry = attempt < self.options.retries;
            let backoff = self.options.backoff * 2u32.saturating_pow(attempt);
            attempt += 1;
            let response = match self.client.get(&url).send().await {
                Ok(r) => r,
                Err(source) if retry => {
                    tracing::debug!(%url, error = %source, "open-data request failed; retrying");
                    tokio::time::sleep(backoff).await;
                    continue;
                }
                Err(source) => return Err(OpenDataError::Request { url, source }),
            };
            let status = response.status();
            if status.as_u16() == 404 {
                return Ok(None);
            }
            if (status.as_u16() == 429 || status.is_server_error()) && retry {
                tracing::debug!(%url, status = status.as_u16(), "open-data busy; retrying");
                tokio::time::sleep(backoff).await;
                continue;
            }
            let body = match response.bytes().await {
                Ok(b) => b,
                Err(source) if retry => {
                    tracing::debug!(%url, error = %source, "open-data body failed; retrying");
                    tokio::time::sleep(backoff).await;
                    continue;
                }
                Err(source) => return Err(OpenDataError::Request { url, source }),
            };
            if !status.is_success() {
                let message = serde_json::from_slice::<skolsync_model::open_data::Error>(&body)
                    .map(|e| e.message)
                    .unwrap_or_else(|_| String::from_utf8_lossy(&body).chars().take(200).collect());
                return Err(OpenDataError::Status {
                    url,
                    status: status.as_u16(),
                    message,
                });
            }
            return serde_json::from_slice::<T>(&body).map(Some).map_err(|e| {
                OpenDataError::Parse {
                    url,
                    path: format!("line {} column {}", e.line(), e.column()),
                    message: e.to_string(),
                }
            });
        }
    }
}
