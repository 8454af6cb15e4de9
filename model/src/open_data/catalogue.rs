//! The open-data catalogue a run checks its school units, programmes and
//! test activities against ([`OpenData`]), its snapshot file format
//! ([`OpenData::load`], [`OpenData::save`]) and what a run needs read
//! ([`FetchScope`]).
//!
//! Here, in the shared vocabulary, because two stages meet over it: the
//! connectors read it from the Open-data API and the transform checks
//! against it, and neither imports the other.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Organisation, Programme, SchoolUnit, TestActivity};
use crate::OrganisationType;
use crate::ss12000::Snapshot;

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
    /// Entries the API sent that could not be read (an unknown enum value,
    /// a missing required field), each on its own: the rest of the
    /// catalogue is used, and records that need one of these get a clear
    /// problem instead of "not known to Skolverket".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<UnreadableEntry>,
    /// When the data was read (RFC 3339), for snapshot files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetched_at: Option<String>,
    /// The API it was read from, for snapshot files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_url: Option<String>,
}

/// What kind of open-data entry could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// An organiser (`/organisations/code/{orgnr}`).
    Organisation,
    /// A school unit (`schoolUnits` of an organiser, or `/schoolUnits/code/{code}`).
    SchoolUnit,
    /// A programme (`/programmes`).
    Programme,
    /// A test activity (`/activities`).
    TestActivity,
}

/// One open-data entry that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnreadableEntry {
    /// What it is.
    pub kind: EntryKind,
    /// Its key, when the raw JSON had one: the school unit code, education
    /// code, test activity name or organisation number.
    pub key: Option<String>,
    /// Where it was read: the request path and the entry's position.
    pub location: String,
    /// What was wrong, naming the field.
    pub message: String,
}

impl UnreadableEntry {
    /// Reads one entry of `kind` from its raw JSON, or records why not in
    /// `unreadable`. Not documented how strictly a client must read
    /// open-data; chosen because one entry with a new enum value must not
    /// stop every school unit from being checked.
    pub fn read<T: serde::de::DeserializeOwned>(
        kind: EntryKind,
        raw: serde_json::Value,
        location: String,
        unreadable: &mut Vec<UnreadableEntry>,
    ) -> Option<T> {
        let key_field = match kind {
            EntryKind::Organisation => "organisationNumber",
            EntryKind::SchoolUnit => "schoolUnitCode",
            EntryKind::Programme => "educationCode",
            EntryKind::TestActivity => "displayName",
        };
        let key = match raw.get(key_field) {
            Some(serde_json::Value::String(s)) => Some(s.trim().to_string()),
            Some(serde_json::Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        match serde_path_to_error::deserialize::<_, T>(raw) {
            Ok(entry) => Some(entry),
            Err(err) => {
                let path = err.path().to_string();
                unreadable.push(UnreadableEntry {
                    kind,
                    key,
                    location,
                    message: format!("field `{path}`: {}", err.into_inner()),
                });
                None
            }
        }
    }
}

/// Why open-data could not be obtained, or a snapshot file read or written.
#[derive(Debug, thiserror::Error)]
pub enum OpenDataError {
    /// The Open-data API could not be read. The reader lives in the
    /// connectors crate; its error is kept whole, message and causes.
    #[error(transparent)]
    Fetch(Box<dyn std::error::Error + Send + Sync>),
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

/// Which organisers and school units to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchScope {
    /// Organisation numbers whose school units are read in one call each.
    pub organisation_numbers: Vec<String>,
    /// School unit codes to read one by one unless an organiser covered them.
    pub school_unit_codes: Vec<String>,
}

impl FetchScope {
    /// What a run over `snapshot` needs: `organisation_numbers` when given
    /// (else those of the source's `Huvudman` organisations), and every
    /// school unit code of the source and of `school_units` (the pipeline's
    /// scope).
    pub fn for_snapshot(
        organisation_numbers: &[String],
        school_units: &[String],
        snapshot: &Snapshot,
    ) -> Self {
        let organisation_numbers: BTreeSet<String> = if organisation_numbers.is_empty() {
            snapshot
                .organisations
                .iter()
                .filter(|o| o.organisation_type == OrganisationType::Huvudman)
                .filter_map(|o| o.organisation_number.as_deref())
                .map(|n| n.trim().replace('-', ""))
                .filter(|n| !n.is_empty())
                .collect()
        } else {
            organisation_numbers
                .iter()
                .map(|n| n.trim().replace('-', ""))
                .collect()
        };
        let school_unit_codes: BTreeSet<String> = snapshot
            .organisations
            .iter()
            .filter_map(|o| o.school_unit_code.as_deref())
            .chain(school_units.iter().map(String::as_str))
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

/// Reads an [`OpenData`] naming the line and column of the first problem
/// (serde_json's position is as good as a path for a file).
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
