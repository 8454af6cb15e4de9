//! The transform's stages, one file per stage, each an `impl Run` block
//! (see [`crate::transformer`] for the orchestrator that calls them).
//!
//! Why: the transform was one 2 600-line struct; a stage per file keeps
//! each step's joins, rules and column names together and short enough to
//! read, and lets the next stages (incremental reads, new sinks) change one
//! stage without touching the others. Each stage's frame has its column
//! names as constants next to it; a later stage that reads them imports
//! them from there.
//!
//! ```text
//! common.rs           expressions, typed column access, scope tests, rejects
//! units.rs          1 school units ⋈ open-data ⋈ configured scope
//! enrolments.rs     2a enrolments ⋈ units ⋈ school types, years, programmes
//! duties.rs         2b duties in scope; 4 duties ⋈ persons ⋈ role table
//! persons.rs        3 roles, person rules, duplicates; the person table
//! test_activities.rs 5 activities ⋈ syllabuses ⋈ test activities
//! groups.rs         6 groups ⋈ units ⋈ testing activities ⋈ member counts
//! activities.rs     7 activities ⋈ their groups and teachers → payloads
//! memberships.rs    7 groups decided, ⋈ members → payloads
//! nesting.rs          persons re-nested with their kept enrolments
//! ```

pub(crate) mod activities;
pub(crate) mod common;
pub(crate) mod duties;
pub(crate) mod enrolments;
pub(crate) mod groups;
pub(crate) mod memberships;
pub(crate) mod nesting;
pub(crate) mod persons;
pub(crate) mod test_activities;
pub(crate) mod units;
