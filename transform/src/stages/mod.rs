//! stages
mod activities;
pub(crate) mod common;
pub(crate) mod duties;
pub(crate) mod enrolments;
pub(crate) mod groups;
mod memberships;
mod nesting;
pub(crate) mod persons;
pub(crate) mod test_activities;
pub(crate) mod units;
