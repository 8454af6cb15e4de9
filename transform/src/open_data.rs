//! Skolverket's open-data catalogue, as the transform reads it.
//!
//! The transform checks every school unit, programme and test activity it is
//! about to reference against [`OpenData`] (defined in `model`, where the
//! connectors that read it from the Open-data API meet the transform). The
//! transform does no I/O over the network; offline runs read a snapshot
//! file that `skolsync open-data pull` wrote ([`OpenData::save`],
//! [`OpenData::load`]).

use skolsync_model::ss12000::Snapshot;

pub use skolsync_model::open_data::{FetchScope, OpenData, OpenDataError};

use crate::config::TransformConfig;

/// What a run over `snapshot` with `config` needs read from open-data: the
/// configured organisation numbers (else those of the source's `Huvudman`
/// organisations), and every school unit code of the source and of the
/// configured scope.
pub fn fetch_scope(config: &TransformConfig, snapshot: &Snapshot) -> FetchScope {
    FetchScope::for_snapshot(&config.organisation_numbers, &config.school_units, snapshot)
}
