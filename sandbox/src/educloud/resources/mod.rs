//! What each SS 12000 resource adds to the shared list machinery: the filters
//! its endpoint takes, the references whose names `expandReferenceNames`
//! fills in, what `expand` embeds, and the lookup body it answers.
//!
//! This file holds the [`Resource`] trait and what its implementations
//! share; [`names`] resolves reference names, [`directory`] implements it
//! for organisations, persons and duties, [`teaching`] for groups,
//! activities, syllabuses and programmes.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde::Deserialize;
use serde_json::{Map, Value};
use skolsync_model::ss12000::EntityKind;
use uuid::Uuid;

use super::ApiError;
use super::query::Params;
use crate::world::{SourceData, StoredEntity};

mod directory;
mod names;
mod teaching;

pub(crate) use names::{Names, Wanted};

/// A filter over one resource's entities.
pub(crate) type Predicate<'a, T> = Box<dyn Fn(&T) -> bool + Send + 'a>;

/// The `_embedded` object of each entity of a page, by entity id.
pub(crate) type Embeds = HashMap<String, Map<String, Value>>;

/// The body of `POST /{resource}/lookup`: the union of every list given.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct LookupBody {
    pub ids: Vec<String>,
    pub school_unit_codes: Vec<String>,
    pub organisation_codes: Vec<String>,
    pub civic_nos: Vec<String>,
    pub teachers: Vec<String>,
    pub members: Vec<String>,
}

/// An SS 12000 resource served by the list, by-id and lookup endpoints.
pub(crate) trait Resource: StoredEntity + Sync {
    /// The spec's filter parameters of the list endpoint (besides `meta.*`).
    const FILTERS: &'static [&'static str];
    /// The values `expand` takes.
    const EXPANDS: &'static [&'static str];
    /// Whether the stored form needs [`Resource::finish`] before serving.
    const NEEDS_FINISH: bool = false;

    /// The filter the parameters ask for.
    fn predicate<'a>(
        params: Params<'_>,
        data: &'a SourceData,
    ) -> Result<Predicate<'a, Self>, ApiError>;

    /// Whether the lookup body selects this entity.
    fn looked_up(&self, body: &LookupBody, ctx: &LookupContext) -> bool {
        let _ = ctx;
        body.ids.iter().any(|id| id == self.id().as_str())
    }

    /// Collects the references whose names `expandReferenceNames` fills in.
    fn references(&self, wanted: &mut Wanted);

    /// Fills in the names of references.
    fn set_names(&mut self, names: &Names);

    /// The `_embedded` objects of a page's entities for `expand`.
    fn embed(page: &[&Self], data: &SourceData, expand: &BTreeSet<String>) -> Embeds {
        let _ = (page, data, expand);
        Embeds::new()
    }

    /// Brings the serialised stored form in line with the spec.
    fn finish(value: &mut Value) {
        let _ = value;
    }
}

/// Facts a lookup needs beyond the entity itself.
#[derive(Debug, Default)]
pub(crate) struct LookupContext {
    /// Groups having one of the looked-up `members`.
    pub member_groups: HashSet<String>,
}

impl LookupContext {
    pub(crate) fn new(body: &LookupBody, data: &SourceData) -> Self {
        LookupContext {
            member_groups: groups_with_members(data, body.members.iter().map(String::as_str)),
        }
    }
}

/// Ids of groups with any of `members` as a member.
fn groups_with_members<'m>(
    data: &SourceData,
    members: impl IntoIterator<Item = &'m str>,
) -> HashSet<String> {
    let members: HashSet<&str> = members.into_iter().collect();
    if members.is_empty() {
        return HashSet::new();
    }
    data.groups
        .iter()
        .filter(|g| {
            g.group_memberships
                .iter()
                .any(|m| members.contains(m.person.id.as_str()))
        })
        .map(|g| g.id.as_str().to_string())
        .collect()
}

/// Ids of `root` and every organisation element under it.
fn subtree(data: &SourceData, root: &str) -> HashSet<String> {
    let mut found: HashSet<String> = HashSet::from([root.to_string()]);
    // Organisation trees are shallow and small; repeat until nothing is added.
    loop {
        let before = found.len();
        for org in &data.organisations {
            if let Some(parent) = &org.parent_organisation
                && found.contains(parent.id.as_str())
            {
                found.insert(org.id.as_str().to_string());
            }
        }
        if found.len() == before {
            return found;
        }
    }
}

/// A list endpoint's filter parameters: the resource's own, then for a
/// dated resource the spec's four date limits (`prefix`ed, as persons'
/// `relationship.` ones are), and last `sortkey`, which every list takes.
macro_rules! filters {
    ($($own:literal),* $(,)?) => {
        &[$($own,)* "sortkey"]
    };
    ($($own:literal),* ; dated $($prefix:literal)?) => {
        &[
            $($own,)*
            concat!($($prefix,)? "startDate.onOrBefore"),
            concat!($($prefix,)? "startDate.onOrAfter"),
            concat!($($prefix,)? "endDate.onOrBefore"),
            concat!($($prefix,)? "endDate.onOrAfter"),
            "sortkey",
        ]
    };
}
use filters;

/// Serialises an entity embedded in another one; our own types always
/// serialise, so a failure only drops the embedded copy.
fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// The entities of `items` whose ids are in `wanted`, by id; none unless
/// `expanded`, so an `expand` not asked for costs no scan.
fn by_id<'a, T: StoredEntity>(
    items: &'a [T],
    wanted: &HashSet<&str>,
    expanded: bool,
) -> HashMap<&'a str, &'a T> {
    if !expanded {
        return HashMap::new();
    }
    items
        .iter()
        .filter(|item| wanted.contains(item.id().as_str()))
        .map(|item| (item.id().as_str(), item))
        .collect()
}

/// The spec's `Code_ObjectType` values, accepted by `/deletedEntities?entities=`.
pub(crate) const OBJECT_TYPES: [&str; 18] = [
    "Absence",
    "AttendanceEvent",
    "Attendance",
    "Grade",
    "CalendarEvent",
    "AttendanceSchedule",
    "Resource",
    "Room",
    "Activity",
    "Duty",
    "Placement",
    "StudyPlan",
    "Programme",
    "Syllabus",
    "SchoolUnitOffering",
    "Group",
    "Person",
    "Organisation",
];

/// The key of a kind in `deletedEntities.data`. The spec (SS 12000 v2 and
/// Skolverket's subset alike) spells the activities key `activitites`.
pub(crate) fn deleted_key(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::Activity => "activitites",
        other => other.endpoint(),
    }
}

/// Whether `id` could be an SS 12000 id (a UUID).
pub(crate) fn is_uuid(id: &str) -> bool {
    Uuid::parse_str(id).is_ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use skolsync_model::ss12000::Activity;

    use super::*;

    #[test]
    fn activity_finish_follows_the_spec_shape() {
        let mut v = json!({
            "id": "a", "parentActivity": [{"id": "p"}], "_embedded": {"syllabus": {}}
        });
        Activity::finish(&mut v);
        assert_eq!(v["parentActivity"], json!({"id": "p"}));
        assert_eq!(v["calendarEventsRequired"], json!(false));
        assert!(v.get("_embedded").is_none());
    }

    #[test]
    fn the_deleted_activities_key_is_spelled_as_in_the_spec() {
        assert_eq!(deleted_key(EntityKind::Activity), "activitites");
        assert_eq!(deleted_key(EntityKind::Person), "persons");
    }
}
