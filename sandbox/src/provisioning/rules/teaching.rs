//! The rules of groups and activities: what the test platform takes, and
//! which references must already be in the service.

use std::collections::HashSet;

use crate::provisioning::envelope::LogEntry;
use skolsync_model::ObjectType;
use uuid::Uuid;

use super::catalogue::At;
use super::{
    Judge, Resource, Verdict, referenced_by_activities, remove_from, resource_error, stored_in,
};
use crate::provisioning::messages::{self as msg, Entry};
use crate::provisioning::payload::{Activity, Group, Meta};
use crate::provisioning::schema::{self, Shape};
use crate::provisioning::store::{Mode, Table, Tables, Work};

impl Resource for Group {
    stored_in!(groups, Groups);

    /// Members that do not exist are a Warning, not an Error (v1.3.2), and
    /// are left out of the stored group: the CHANGELOG says the group must be
    /// sent again once the pupils exist for them to be included.
    fn check(mut g: Self, t: &Tables, judge: &Judge<'_>) -> Verdict<Self> {
        let kind = ObjectType::Group;
        // GroupType: "enbart grupper av typen `Klass` och `Undervisning` ska
        // skickas till provtjänsten".
        let type_allowed = matches!(g.group_type.as_str(), "Klass" | "Undervisning");
        let mut errors = Refusal {
            kind,
            id: g.id,
            code: msg::GROUP_TYPE_NOT_ALLOWED,
            attribute: "groupType",
            value: g.group_type.as_str(),
            noun: "Grupptypen",
            plural: "grupper",
            allowed: "Klass och Undervisning",
        }
        .check(type_allowed, g.organisation.id, judge);
        errors.extend(judge.offer_errors(
            organisation_at(kind, g.id),
            g.organisation.id,
            g.school_type.as_str(),
            None,
        ));
        let mut warnings = Vec::new();
        let mut seen = HashSet::new();
        g.group_memberships.retain(|m| {
            // A membership without `person` names nobody: not documented;
            // chosen to leave it out like a member that does not exist.
            let Some(person) = m.person.map(|p| p.id) else {
                return false;
            };
            if !seen.insert(person) {
                return false;
            }
            let exists = t.persons.rows.contains_key(&person);
            if !exists {
                warnings.push(
                    Entry::new(msg::MEMBER_MISSING, 400, "Bristfälligt värde",
                        "Gruppmedlemmen finns inte i provtjänsten och har inte lagts till i gruppen. Överför personen och därefter gruppen igen.")
                    .resource(kind, g.id)
                    .attribute("groupMemberships.person.id", person.to_string())
                    .warning()
                    .build(),
                );
            }
            exists
        });
        Verdict {
            entity: g,
            errors,
            warnings,
        }
    }

    fn blockers(t: &Tables, id: Uuid) -> Vec<LogEntry> {
        referenced_by_activities(ObjectType::Group, id, t.activities_by_group.get(&id))
    }

    /// A class reaches the test platform by itself; a teaching group only
    /// through an activity (spec: `provisioningStatus` of GroupFragment).
    fn provisioned(t: &Tables, e: &Self) -> bool {
        match e.group_type.as_str() {
            "Klass" => true,
            _ => t
                .activities_by_group
                .get(&e.id)
                .is_some_and(|a| !a.is_empty()),
        }
    }

    const SCHEMA: &'static Shape = &schema::GROUP;
}

impl Resource for Activity {
    stored_in!(activities, Activities);

    fn link(t: &mut Tables, e: &Self) {
        for g in &e.groups {
            t.activities_by_group.entry(g.id).or_default().insert(e.id);
        }
        for duty in e.teachers.iter().filter_map(|x| x.duty.map(|d| d.id)) {
            t.activities_by_duty.entry(duty).or_default().insert(e.id);
        }
    }

    fn unlink(t: &mut Tables, e: &Self) {
        for g in &e.groups {
            remove_from(&mut t.activities_by_group, g.id, e.id);
        }
        for duty in e.teachers.iter().filter_map(|x| x.duty.map(|d| d.id)) {
            remove_from(&mut t.activities_by_duty, duty, e.id);
        }
    }

    fn check(a: Self, t: &Tables, judge: &Judge<'_>) -> Verdict<Self> {
        let kind = ObjectType::Activity;
        let mut errors = Refusal {
            kind,
            id: a.id,
            code: msg::ACTIVITY_TYPE_NOT_ALLOWED,
            attribute: "activityType",
            value: a.activity_type.as_str(),
            noun: "Aktivitetstypen",
            plural: "aktiviteter",
            allowed: "Undervisning",
        }
        .check(a.activity_type == "Undervisning", a.organisation.id, judge);
        if !judge.test_activity_known(&a.parent_activity.id) {
            errors.push(
                resource_error(kind, a.id, msg::PARENT_ACTIVITY_UNKNOWN, 400, "Ogiltigt värde",
                    "Provaktiviteten <parentActivity.id> finns inte. Värdet ska vara ett UUID för en provaktivitet som är genererat av Skolverket, se open-data API.")
                .attribute("parentActivity.id", a.parent_activity.id.to_string())
                .build(),
            );
        }
        if a.groups.is_empty() {
            errors.push(
                resource_error(
                    kind,
                    a.id,
                    msg::ACTIVITY_GROUP_MISSING,
                    400,
                    "Värde saknas",
                    "Aktiviteten ska ha minst en grupp.",
                )
                .attribute("groups", "0")
                .build(),
            );
        }
        for g in &a.groups {
            if !t.groups.rows.contains_key(&g.id) {
                errors.push(
                    resource_error(
                        kind,
                        a.id,
                        msg::ACTIVITY_GROUP_MISSING,
                        400,
                        "Ogiltigt värde",
                        "Gruppen finns inte i provtjänsten. Överför gruppen först.",
                    )
                    .attribute("groups.id", g.id.to_string())
                    .build(),
                );
            }
        }
        for duty in a.teachers.iter().filter_map(|x| x.duty.map(|d| d.id)) {
            if !t.duties.rows.contains_key(&duty) {
                errors.push(
                    resource_error(
                        kind,
                        a.id,
                        msg::ACTIVITY_TEACHER_MISSING,
                        400,
                        "Ogiltigt värde",
                        "Tjänstgöringen finns inte i provtjänsten. Överför tjänstgöringen först.",
                    )
                    .attribute("teachers.duty.id", duty.to_string())
                    .build(),
                );
            }
        }
        Verdict {
            entity: a,
            errors,
            warnings: Vec::new(),
        }
    }

    fn provisioned(t: &Tables, e: &Self) -> bool {
        e.groups.iter().any(|g| t.groups.rows.contains_key(&g.id))
    }

    const SCHEMA: &'static Shape = &schema::ACTIVITY;
}

/// What groups and activities are first checked for: a type the test
/// platform takes, and a school unit Skolverket knows.
struct Refusal<'a> {
    kind: ObjectType,
    id: Uuid,
    code: &'a str,
    /// The type attribute and its value, as sent.
    attribute: &'a str,
    value: &'a str,
    /// "Grupptypen"/"grupper", in the service's message.
    noun: &'a str,
    plural: &'a str,
    /// The types taken, in words.
    allowed: &'a str,
}

impl Refusal<'_> {
    fn check(&self, type_allowed: bool, organisation: Uuid, judge: &Judge<'_>) -> Vec<LogEntry> {
        let mut errors = Vec::new();
        if !type_allowed {
            let (noun, value, plural, allowed) = (self.noun, self.value, self.plural, self.allowed);
            errors.push(
                resource_error(self.kind, self.id, self.code, 400, "Ogiltigt värde", format!(
                    "{noun} {value} tas inte emot. Endast {plural} av typen {allowed} ska skickas."
                ))
                .attribute(self.attribute, value)
                .build(),
            );
        }
        errors.extend(judge.unit_errors(organisation_at(self.kind, self.id), organisation));
        errors
    }
}

/// The `organisation` of a group or activity, for the unit checks.
fn organisation_at(kind: ObjectType, id: Uuid) -> At<'static> {
    At {
        kind,
        id,
        attribute: "organisation.id",
        unknown_code: msg::ORGANISATION_UNKNOWN,
    }
}
