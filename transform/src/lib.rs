//! Transform: SS 12000 entities to Skolverket's provtjänst profile.
//!
//! A source yields a [`Snapshot`](skolsync_model::ss12000::Snapshot); the
//! [`Transformer`] turns it into the desired provtjänst state (Person, Duty,
//! Group and Activity payloads exactly as the Provisioning API wants them)
//! plus a [`Reject`](skolsync_model::reject::Reject) for every record left
//! out and every warning, and [`diff`] turns the desired state into a plan.
//!
//! ```text
//! config.rs      the [transform] section of a pipeline file
//! open_data.rs   Skolverket's open-data catalogue and its snapshot file
//! frames.rs      entities and open-data as polars frames
//! transformer.rs the public types and the orchestrator of the stages
//! stages/        one file per stage: joins and filters, re-nested into payloads
//! persons.rs     per-person rules (personnummer, EPPN, e-mail)
//! roles.rs       source duty roles → Code_DutyRole
//! ids.rs         provtjänst ids of the pipeline's entities, derived EPPNs
//! crosswalk.rs   identity continuity when the source system changes
//! stale.rs       rejected is not absent: entities kept as last sent
//! diff.rs        desired state vs previous state → plan
//! ```
//!
//! # Decisions
//!
//! - **Scope vs reject.** Records outside the scope (förskoleklass, mentor
//!   groups, untested subjects, ended memberships, units not configured)
//!   are *out of scope*: counted per reason, not reported one by one.
//!   Records in scope that break a rule are *rejected* with a reason.
//!   Per type, `read = out_of_scope + in_scope` and `in_scope = out + rejected`.
//! - **Pupil and staff in one person.** The provtjänst wants different EPPNs
//!   for the two roles and a Person carries exactly one, so a Person with
//!   both enrolments and duties cannot be right (skolsync's own check:
//!   Skolverket documents no error id for it). The pupil role is kept; the
//!   person's duties are rejected with that reason.
//! - **Duplicates.** Two person records with one personnummer or one EPPN:
//!   the first (pupils before staff, then source order) is kept, the others
//!   are rejected (skolsync's own check; no documented error id).
//! - **References.** A group member or an activity's group or teacher that
//!   is rejected or unknown is left out with a *warning*; the group or
//!   activity is still sent. An activity left with no group is rejected; a
//!   teaching group all of whose activities are rejected is rejected too.
//! - **Test activities.** In order: the activity's own `parentActivity`
//!   when it is a known test activity (by id or name); a
//!   `[[transform.test_activities]]` rule for the local code; the subject
//!   code (after `subject_map`) + school year for GR/SP/SAM; the course
//!   code for GY/VUXGY. The year is the syllabus's when it spans one year,
//!   else the most common year of the groups' members. No match is out of
//!   scope ("no national test"), except an unknown `parentActivity`, which
//!   is rejected (a `parentActivity` naming another source activity is the
//!   vendor's own structure and ignored).
//! - **Duty roles.** See [`roles::DEFAULT_DUTY_ROLES`] for the built-in
//!   table over the seventeen `Code_DutyRole` values.
//! - **Ids.** See [`ids`]: source UUIDs are kept, other keys hashed.
//! - **Order and hashes.** Desired lists follow the source's order; lists
//!   inside payloads (members, groups, teachers, enrolments) are sorted, so
//!   the content hash (the model's `content_hash`, computed without building
//!   a JSON tree) only changes when the content does.
//! - **Frames.** References are resolved with joins on the id columns,
//!   except group memberships, whose person ids are interned to positions
//!   while the frame is built (millions of rows: integers instead of
//!   36-character strings halve the transform's memory for big sources).
//! - **Incremental reads.** The transform needs the full picture: the
//!   engine merges incremental reads into a full snapshot first.

pub mod config;
pub mod crosswalk;
pub mod diff;
mod frames;
pub mod ids;
pub mod open_data;
mod parallel;
mod persons;
mod reasons;
pub mod roles;
mod stages;
pub mod stale;
mod transformer;

pub use config::{
    EppnDomain, EppnMode, IdStrategy, PRODUCTION_OPEN_DATA_URL, TestActivityRule, TransformConfig,
    VERIFICATION_OPEN_DATA_URL,
};
pub use crosswalk::{Crosswalk, CrosswalkReport};
pub use diff::{diff, diff_keeping, previous_state};
pub use ids::IdScheme;
pub use open_data::{FetchScope, OpenData, OpenDataError, fetch_scope};
pub use stale::{StaleEntity, keep_stale};
pub use transformer::{
    ConfigError, Counts, TransformError, TransformOutput, Transformer, TypeCounts, check_offline,
};
