//! Records that were left out, and why.
//!
//! Every stage (extract, transform, load) reports what it could not use as a
//! [`Reject`] naming where it came from (file and line, or endpoint and
//! page), the entity and its source id, the field, the offending value
//! (masked when it is a personnummer) and a reason a school administrator
//! understands. Nothing is dropped silently: reports add these up.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::record::record;
use crate::ss12000::EntityKind;

/// The pipeline stage that found the problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Reading the source.
    Extract,
    /// Mapping to the provtjänst profile.
    Transform,
    /// Sending to the sink.
    Load,
}

/// How serious the finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The record is left out.
    Rejected,
    /// The record goes on, but something in it was dropped or should be fixed
    /// (e.g. a group sent without a member who was rejected).
    Warning,
}

record! {
    /// One record left out (or sent with a warning), with everything needed to fix the source.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Reject {
        /// Stage that found it.
        pub stage: Stage,
        /// Rejected or only warned about.
        pub severity: Severity,
        /// The SS 12000 entity type of the record.
        pub entity: EntityKind,
        /// The record's id in the source, when it has one.
        pub source_id: Option<String> [optional],
        /// Where the record came from: `elever.csv:17`, `GET …/persons (page 3)`.
        pub location: Option<String> [optional],
        /// The field at fault, e.g. `civicNo` or `enrolments[0].schoolType`.
        pub field: Option<String> [optional],
        /// The offending value; personnummer always masked.
        pub value: Option<String> [optional],
        /// The school unit code the record belongs to, for grouping in reports.
        pub school_unit: Option<String> [optional],
        /// What is wrong, in words a school administrator understands.
        pub reason: String,
        /// Who the record is, for a person reading the report ("Anna Berg"),
        /// when the stage that rejected it could tell and the record is not
        /// protected (never set for a person with a security marking). Lets a
        /// report name a pupil whose record never got past extract.
        pub subject: Option<String> [optional],
        /// The school unit's name beside its code ("Exempelskolan"), for
        /// the people who fix the source: they know their schools by
        /// name. Filled in by the engine from the source's organisations.
        pub school_unit_name: Option<String> [optional],
        /// For a person: their personnummer, masked (`20090127-****`), so
        /// a report row names the person the way the school knows them
        /// even when the problem is another field. Never the full number.
        pub civic_no: Option<String> [optional],
    }
}

impl Reject {
    /// A rejected record of `entity` found at `stage`, for `reason`.
    pub fn new(stage: Stage, entity: EntityKind, reason: impl Into<String>) -> Self {
        Reject {
            stage,
            severity: Severity::Rejected,
            entity,
            source_id: None,
            location: None,
            field: None,
            value: None,
            school_unit: None,
            reason: reason.into(),
            subject: None,
            school_unit_name: None,
            civic_no: None,
        }
    }

    /// Marks this as a warning rather than a rejection.
    pub fn warning(mut self) -> Self {
        self.severity = Severity::Warning;
        self
    }

    /// Sets the source id.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.source_id = Some(id.into());
        self
    }

    /// Sets where the record came from.
    pub fn at(mut self, location: impl Into<String>) -> Self {
        self.location = Some(location.into());
        self
    }

    /// Sets the field and the (already masked, where needed) value.
    pub fn field(mut self, field: impl Into<String>, value: Option<String>) -> Self {
        self.field = Some(field.into());
        self.value = value;
        self
    }

    /// Sets who the record is (see [`Reject::subject`]); empty is none.
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        let subject = subject.into();
        self.subject = (!subject.trim().is_empty()).then(|| subject.trim().to_string());
        self
    }

    /// Sets the school unit code.
    pub fn school_unit(mut self, code: impl Into<String>) -> Self {
        self.school_unit = Some(code.into());
        self
    }
}

impl Reject {
    /// Which source record this is about, so that several rows about one
    /// record (a person with three bad fields) count as one record: its
    /// entity and source id, else where it came from, else `None` (a row
    /// that names no record counts as a record of its own).
    pub fn record_key(&self) -> Option<(EntityKind, &str)> {
        self.source_id
            .as_deref()
            .or(self.location.as_deref())
            .map(|key| (self.entity, key))
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.entity)?;
        if let Some(id) = &self.source_id {
            write!(f, " {id}")?;
        }
        if let Some(location) = &self.location {
            write!(f, " ({location})")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
            if let Some(value) = &self.value {
                write!(f, " = `{value}`")?;
            }
        }
        write!(f, ": {}", self.reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_entity_id_location_field_value_and_reason() {
        let r = Reject::new(Stage::Extract, EntityKind::Person, "invalid check digit")
            .id("p-1")
            .at("elever.csv:17")
            .field("Personnummer", Some("090127-****".into()));
        assert_eq!(
            r.to_string(),
            "Person p-1 (elever.csv:17): Personnummer = `090127-****`: invalid check digit"
        );
        assert_eq!(r.severity, Severity::Rejected);
        assert_eq!(r.clone().warning().severity, Severity::Warning);
    }
}
