//! Re-runs and migrations: an unchanged source plans nothing, one changed
//! name plans one update, and a source system with all-new ids keeps the
//! ids Skolverket knows through the crosswalk.

// Tests stop at the first surprise; helpers outside `#[test]` too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;

use common::fixture::{self, CENTRAL, pnr};
use skolsync_model::ss12000::{Reference, Snapshot, SourceId};
use skolsync_transform::{Crosswalk, Transformer, diff, previous_state};
use uuid::Uuid;

fn transformer(m: &skolsync_sandbox::generate::Municipality) -> Transformer {
    Transformer::new(common::config(), common::open_data_of(&m.catalogue)).unwrap()
}

#[test]
fn an_unchanged_source_plans_nothing_and_one_new_name_one_update() {
    let m = common::municipality(1000, 4, 0.02);
    let mut s = common::snapshot_of(&m.source);
    let first = transformer(&m).run(&s).unwrap();
    let previous = previous_state(&first.desired);
    // A new transformer, a new run: same payloads, same hashes.
    let second = transformer(&m).run(&s).unwrap();
    let plan = diff(second.desired.clone(), &previous);
    assert!(plan.is_empty(), "{:?}", plan.persons.update.first());
    assert_eq!(plan.persons.unchanged.len(), first.desired.persons.len());
    assert_eq!(
        plan.activities.unchanged.len(),
        first.desired.activities.len()
    );

    // One pupil changes name.
    let pupil = first
        .desired
        .persons
        .iter()
        .find(|p| !p.payload.enrolments.is_empty())
        .unwrap();
    let i = s
        .persons
        .iter()
        .position(|p| p.id.as_str() == pupil.source_id)
        .unwrap();
    s.persons[i].given_name = "Ny-Förnamn".into();
    let third = transformer(&m).run(&s).unwrap();
    let plan = diff(third.desired.clone(), &previous);
    assert_eq!(plan.persons.update.len(), 1);
    assert_eq!(plan.persons.update[0].id, pupil.id);
    assert_eq!(plan.persons.update[0].payload.given_name, "Ny-Förnamn");
    assert!(plan.persons.create.is_empty() && plan.persons.delete.is_empty());
    assert!(plan.duties.is_empty() && plan.groups.is_empty() && plan.activities.is_empty());

    // The pupil leaves: one delete (and the groups lose a member).
    s.persons.remove(i);
    let fourth = transformer(&m).run(&s).unwrap();
    let plan = diff(fourth.desired.clone(), &previous);
    assert_eq!(plan.persons.delete, vec![pupil.id]);
    assert!(plan.persons.create.is_empty() && plan.persons.update.is_empty());
    assert!(!plan.groups.update.is_empty());
}

/// What moving to another school system looks like: every entity gets a
/// new id, and every reference follows.
fn new_system(s: &Snapshot) -> Snapshot {
    let ns = Uuid::from_u128(0x5157_454d_0000_0000_0000_0000_0000_0042);
    let mut map: HashMap<String, String> = HashMap::new();
    let mut new_id = |id: &SourceId| -> SourceId {
        let next = map
            .entry(id.to_string())
            .or_insert_with(|| Uuid::new_v5(&ns, id.as_str().as_bytes()).to_string());
        SourceId::new(next.as_str())
    };
    let mut s = s.clone();
    for p in &mut s.persons {
        p.id = new_id(&p.id);
    }
    for d in &mut s.duties {
        d.id = new_id(&d.id);
        if let Some(p) = d.person.as_mut() {
            p.id = new_id(&p.id);
        }
    }
    for g in &mut s.groups {
        g.id = new_id(&g.id);
        for m in &mut g.group_memberships {
            m.person.id = new_id(&m.person.id);
        }
    }
    for a in &mut s.activities {
        a.id = new_id(&a.id);
        for g in &mut a.groups {
            *g = Reference::to(new_id(&g.id).as_str());
        }
        for t in &mut a.teachers {
            if let Some(d) = t.duty.as_mut() {
                d.id = new_id(&d.id);
            }
        }
    }
    s
}

#[test]
fn a_new_source_system_keeps_skolverkets_ids_through_the_crosswalk() {
    let m = common::municipality(1000, 9, 0.0);
    let old = common::snapshot_of(&m.source);
    let before = transformer(&m).run(&old).unwrap();
    let previous = previous_state(&before.desired);
    let crosswalk = Crosswalk::record(&before.desired);

    let new = new_system(&old);
    let mut after = transformer(&m).run(&new).unwrap();
    // Without the crosswalk everything would be deleted and created anew.
    let naive = diff(after.desired.clone(), &previous);
    assert_eq!(naive.persons.create.len(), before.desired.persons.len());
    assert_eq!(naive.persons.delete.len(), before.desired.persons.len());

    let report = crosswalk.apply(&mut after.desired);
    assert_eq!(report.persons, before.desired.persons.len());
    assert_eq!(report.duties, before.desired.duties.len());
    assert_eq!(report.groups, before.desired.groups.len());
    assert_eq!(report.activities, before.desired.activities.len());
    assert!(report.conflicts.is_empty(), "{:?}", report.conflicts);
    // Same ids, same references inside (duty → person, group → members,
    // activity → groups and teachers), hence the same hashes: nothing to do.
    let plan = diff(after.desired.clone(), &previous);
    assert!(
        plan.is_empty(),
        "persons {} {} {}, groups {} {} {}",
        plan.persons.create.len(),
        plan.persons.update.len(),
        plan.persons.delete.len(),
        plan.groups.create.len(),
        plan.groups.update.len(),
        plan.groups.delete.len()
    );
    // The source ids are the new system's.
    assert!(
        after
            .desired
            .persons
            .iter()
            .all(|p| new.persons.iter().any(|n| n.id.as_str() == p.source_id))
    );
}

#[test]
fn a_person_whose_number_changed_is_found_by_eppn_and_clashes_are_reported() {
    let t = Transformer::new(fixture::config(), fixture::open_data()).unwrap();
    let mut s = fixture::snapshot();
    s.persons
        .push(fixture::pupil("a", "20140305TF12", CENTRAL, "GR", Some(6)));
    let before = t.run(&s).unwrap();
    let crosswalk = Crosswalk::record(&before.desired);
    assert!(
        !format!("{crosswalk:?}").contains("20140305"),
        "Debug shows no personnummer"
    );

    // New system, new id, and the temporary number replaced by a real one.
    let mut s2 = fixture::snapshot();
    s2.persons.push(fixture::pupil(
        "a-new",
        &pnr("20140305", 123),
        CENTRAL,
        "GR",
        Some(6),
    ));
    s2.persons[0].edu_person_principal_names = vec!["A@edu.testby.se".into()];
    let mut after = t.run(&s2).unwrap();
    let report = crosswalk.apply(&mut after.desired);
    assert_eq!(report.persons, 1);
    assert_eq!(after.desired.persons[0].id, before.desired.persons[0].id);
    assert_eq!(
        after.desired.persons[0].payload.id,
        before.desired.persons[0].id
    );

    // Two persons of a run claiming one known id: the first takes it.
    let mut s3 = fixture::snapshot();
    s3.persons
        .push(fixture::pupil("x", "20140305TF12", CENTRAL, "GR", Some(6)));
    s3.persons.push(fixture::pupil(
        "y",
        &pnr("20140305", 124),
        CENTRAL,
        "GR",
        Some(6),
    ));
    s3.persons[1].edu_person_principal_names = vec!["a@edu.testby.se".into()];
    s3.persons[0].edu_person_principal_names = vec!["x@edu.testby.se".into()];
    let mut third = t.run(&s3).unwrap();
    let report = crosswalk.apply(&mut third.desired);
    assert_eq!(report.persons, 1);
    assert_eq!(report.conflicts.len(), 1, "{:?}", report.conflicts);
    assert!(!report.conflicts[0].contains("20140305"));
    let ids: std::collections::HashSet<Uuid> = third.desired.persons.iter().map(|p| p.id).collect();
    assert_eq!(ids.len(), 2, "ids stay unique");
}

/// Issue 10 item 11: the new system names activities its own way (IST says
/// "Matematik 3A", the CSV template "3A MA"). The activities are still the
/// same national tests of the same groups, so they keep their ids: updated
/// (the new name), never deleted and created anew.
#[test]
fn renamed_activities_keep_their_ids_through_their_groups() {
    let m = common::municipality(1000, 9, 0.0);
    let old = common::snapshot_of(&m.source);
    let before = transformer(&m).run(&old).unwrap();
    assert!(!before.desired.activities.is_empty());
    let previous = previous_state(&before.desired);
    let crosswalk = Crosswalk::record(&before.desired);

    let mut new = new_system(&old);
    for a in &mut new.activities {
        a.display_name = format!("renamed {}", a.display_name);
    }
    let mut after = transformer(&m).run(&new).unwrap();
    let report = crosswalk.apply(&mut after.desired);
    assert_eq!(report.activities, before.desired.activities.len());
    assert!(report.conflicts.is_empty(), "{:?}", report.conflicts);
    let plan = diff(after.desired.clone(), &previous);
    assert!(plan.activities.create.is_empty() && plan.activities.delete.is_empty());
    assert_eq!(
        plan.activities.update.len(),
        before.desired.activities.len()
    );
    assert!(plan.groups.create.is_empty() && plan.groups.delete.is_empty());
    assert!(plan.duties.create.is_empty() && plan.duties.delete.is_empty());
    assert!(plan.persons.create.is_empty() && plan.persons.delete.is_empty());
}
