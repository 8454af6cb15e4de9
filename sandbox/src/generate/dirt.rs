//! Deliberately invalid records, put into a clean municipality afterwards.
//!
//! Each category of eligible records (see [`Eligible`]) gets
//! `max(kinds, round(dirt × size))` faults, never more than it has records,
//! drawn without repetition from its own random stream (so the clean data
//! does not depend on the dirt level) and assigned kinds in turn so every
//! kind of the category appears.

use std::collections::{HashMap, HashSet};

use rand::SeedableRng;
use rand::seq::index;
use rand_chacha::ChaCha8Rng;
use skolsync_model::ss12000::{
    EntityKind, GroupMembership, Reference, SourceId, TeacherAssignment,
};

use super::build::{Eligible, Ids, Tag};
use super::civic::{break_date, break_luhn};
use super::{DirtKind, DirtyRecord, GenerateConfig, Municipality, REFERENCE_DATE, TERM_START};

/// Distinguishes the dirt stream from the generator's.
const DIRT_STREAM: u64 = 0x6469_7274_6469_7274;

/// Which faults each category can take.
const STUDENT_FAULTS: [DirtKind; 5] = [
    DirtKind::InvalidCivicNo,
    DirtKind::InvalidCivicNoDate,
    DirtKind::UnknownSchoolUnit,
    DirtKind::MissingEppn,
    DirtKind::DuplicateEppn,
];
const STAFF_FAULTS: [DirtKind; 4] = [
    DirtKind::StaffWithoutEmail,
    DirtKind::InvalidCivicNo,
    DirtKind::MissingEppn,
    DirtKind::DuplicateEppn,
];
const DUTY_FAULTS: [DirtKind; 1] = [DirtKind::UnknownSchoolUnit];
const CLASS_FAULTS: [DirtKind; 3] = [
    DirtKind::UnknownSchoolUnit,
    DirtKind::DanglingMembership,
    DirtKind::UnknownEnumValue,
];
const TEST_GROUP_FAULTS: [DirtKind; 1] = [DirtKind::DanglingMembership];
const ACTIVITY_FAULTS: [DirtKind; 2] = [DirtKind::DanglingTeacher, DirtKind::UnknownEnumValue];

/// The value outside `Code_GroupType` that dirty groups carry.
pub const UNKNOWN_GROUP_TYPE: &str = "Studiegrupp";
/// The value outside `Code_ActivityType` that dirty activities carry.
pub const UNKNOWN_ACTIVITY_TYPE: &str = "Lektion";

/// Chooses `(position, fault)` pairs for one category, sorted by position.
fn choose(
    rng: &mut ChaCha8Rng,
    dirt: f64,
    members: &[usize],
    faults: &[DirtKind],
) -> Vec<(usize, DirtKind)> {
    let n = members.len();
    let wanted = ((dirt.clamp(0.0, 1.0) * n as f64).round() as usize).max(faults.len());
    let amount = wanted.min(n);
    let mut chosen: Vec<(usize, DirtKind)> = index::sample(rng, n, amount)
        .into_iter()
        .enumerate()
        .map(|(i, k)| (members[k], faults[i % faults.len()]))
        .collect();
    chosen.sort_by_key(|(p, _)| *p);
    chosen
}

pub(crate) fn apply(config: &GenerateConfig, m: &mut Municipality, eligible: &Eligible) {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ DIRT_STREAM);
    let ids = Ids::new(config.seed);
    let Some(ghost) = eligible.ghost_units.first().cloned() else {
        return;
    };
    let dirt = config.dirt;
    let students = choose(&mut rng, dirt, &eligible.students, &STUDENT_FAULTS);
    let staff = choose(&mut rng, dirt, &eligible.staff, &STAFF_FAULTS);
    let duties = choose(&mut rng, dirt, &eligible.duties, &DUTY_FAULTS);
    let classes = choose(&mut rng, dirt, &eligible.classes, &CLASS_FAULTS);
    let test_groups = choose(&mut rng, dirt, &eligible.test_groups, &TEST_GROUP_FAULTS);
    let activities = choose(&mut rng, dirt, &eligible.test_activities, &ACTIVITY_FAULTS);

    let mut dirty = Vec::new();

    // Persons, in list order so a duplicated EPPN always comes from an
    // earlier, clean person.
    let mut persons: Vec<(usize, DirtKind)> = students.into_iter().chain(staff).collect();
    persons.sort_by_key(|(p, _)| *p);
    let dirty_persons: HashSet<usize> = persons.iter().map(|(p, _)| *p).collect();
    for (n, (p, fault)) in persons.into_iter().enumerate() {
        let fault = break_person(m, p, fault, n, &dirty_persons, &ghost);
        dirty.push(DirtyRecord {
            kind: EntityKind::Person,
            id: m.source.persons[p].id.clone(),
            fault,
        });
    }

    for (d, _) in duties {
        let duty = &mut m.source.duties[d];
        duty.duty_at = Reference::to(ghost.as_str());
        dirty.push(DirtyRecord {
            kind: EntityKind::Duty,
            id: duty.id.clone(),
            fault: DirtKind::UnknownSchoolUnit,
        });
    }

    let mut ghost_people = 0u64;
    for (g, fault) in classes.into_iter().chain(test_groups) {
        let group = &mut m.source.groups[g];
        match fault {
            DirtKind::UnknownSchoolUnit => group.organisation = Reference::to(ghost.as_str()),
            DirtKind::DanglingMembership => {
                group.group_memberships.push(GroupMembership {
                    person: Reference::to(ids.id(Tag::GhostPerson, ghost_people).as_str()),
                    start_date: Some(TERM_START),
                    end_date: None,
                });
                ghost_people += 1;
            }
            _ => {
                if !unknown_code(
                    &mut m.source.raw_overrides,
                    (EntityKind::Group, group.id.clone()),
                    &*group,
                    ("groupType", UNKNOWN_GROUP_TYPE),
                ) {
                    continue;
                }
            }
        }
        dirty.push(DirtyRecord {
            kind: EntityKind::Group,
            id: m.source.groups[g].id.clone(),
            fault,
        });
    }

    for (k, (a, fault)) in activities.into_iter().enumerate() {
        let activity = &mut m.source.activities[a];
        if fault == DirtKind::DanglingTeacher {
            activity.teachers.push(TeacherAssignment {
                duty: Some(Reference::to(ids.id(Tag::GhostDuty, k as u64).as_str())),
                person: None,
                start_date: None,
                end_date: None,
            });
        } else {
            if !unknown_code(
                &mut m.source.raw_overrides,
                (EntityKind::Activity, activity.id.clone()),
                &*activity,
                ("activityType", UNKNOWN_ACTIVITY_TYPE),
            ) {
                continue;
            }
        }
        dirty.push(DirtyRecord {
            kind: EntityKind::Activity,
            id: m.source.activities[a].id.clone(),
            fault,
        });
    }
    m.dirty = dirty;
}

/// Stores under `key` the raw form of `entity` with the field of `code`
/// set to its value, one outside the field's code list (the typed record
/// cannot hold it); `false`, and the record stays clean, if it does not
/// serialise.
fn unknown_code<T: serde::Serialize>(
    overrides: &mut HashMap<(EntityKind, SourceId), serde_json::Value>,
    key: (EntityKind, SourceId),
    entity: &T,
    (field, value): (&str, &str),
) -> bool {
    let Ok(mut json) = serde_json::to_value(entity) else {
        return false;
    };
    json[field] = value.into();
    overrides.insert(key, json);
    true
}

/// Breaks person `p`; returns the fault actually applied.
fn break_person(
    m: &mut Municipality,
    p: usize,
    fault: DirtKind,
    n: usize,
    dirty: &HashSet<usize>,
    ghost: &SourceId,
) -> DirtKind {
    if fault == DirtKind::DuplicateEppn {
        // The nearest earlier clean person gives away its EPPN.
        let donor = (0..p).rev().find(|j| {
            !dirty.contains(j) && !m.source.persons[*j].edu_person_principal_names.is_empty()
        });
        let eppn = donor.map(|j| m.source.persons[j].edu_person_principal_names.clone());
        let person = &mut m.source.persons[p];
        return match eppn {
            Some(eppn) => {
                person.edu_person_principal_names = eppn;
                fault
            }
            None => {
                person.edu_person_principal_names.clear();
                DirtKind::MissingEppn
            }
        };
    }
    let person = &mut m.source.persons[p];
    match fault {
        DirtKind::InvalidCivicNo | DirtKind::InvalidCivicNoDate => {
            if let Some(civic) = person.civic_no.as_mut() {
                civic.value = if fault == DirtKind::InvalidCivicNo {
                    break_luhn(&civic.value)
                } else {
                    // February 30th and a 13th month, alternately.
                    break_date(
                        &civic.value,
                        if n.is_multiple_of(2) { "0230" } else { "1301" },
                    )
                };
            }
            fault
        }
        DirtKind::StaffWithoutEmail => {
            person.emails.clear();
            fault
        }
        DirtKind::UnknownSchoolUnit => {
            if let Some(enrolment) = person
                .enrolments
                .iter_mut()
                .rev()
                .find(|e| e.is_active_on(REFERENCE_DATE))
            {
                enrolment.enroled_at = Reference::to(ghost.as_str());
            }
            fault
        }
        _ => {
            person.edu_person_principal_names.clear();
            DirtKind::MissingEppn
        }
    }
}
