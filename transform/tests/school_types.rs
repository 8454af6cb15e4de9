//! School types as sources send them: adult education without a level
//! (`KOMVUX`, `VUX`) is not taken for VUXGY, and a value in no list rejects
//! only its enrolment.

// Tests stop at the first surprise; helpers outside `#[test]` too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use skolsync_model::codes::{SourceSchoolType, Ss12000SchoolType};
use skolsync_model::reject::Severity;
use skolsync_sandbox::generate::Municipality;
use skolsync_transform::Transformer;

/// The test municipality with the first GR pupil's only enrolment set to `t`.
fn with_first_pupil_as(t: SourceSchoolType) -> (Municipality, String) {
    let mut m = common::municipality(300, 6, 0.0);
    let p = m
        .source
        .persons
        .iter_mut()
        .find(|p| p.enrolments.len() == 1 && p.enrolments[0].school_type == Ss12000SchoolType::Gr)
        .unwrap();
    p.enrolments[0].school_type = t;
    let id = p.id.as_str().to_string();
    (m, id)
}

#[test]
fn komvux_is_a_reject_asking_for_vuxgy_when_vuxgy_is_in_scope_and_out_of_scope_otherwise() {
    let (m, id) = with_first_pupil_as(Ss12000SchoolType::Komvux.into());
    let out = common::run(&m, common::config());
    common::assert_counts_add_up(&out);
    let row = out
        .rejects
        .iter()
        .find(|r| r.source_id.as_deref() == Some(id.as_str()))
        .expect("a row for the KOMVUX pupil");
    assert_eq!(row.severity, Severity::Rejected);
    assert_eq!(row.field.as_deref(), Some("enrolments[0].schoolType"));
    assert_eq!(row.value.as_deref(), Some("KOMVUX"));
    assert!(row.reason.contains("VUXGY"), "{}", row.reason);

    let mut config = common::config();
    config.school_types = vec!["GR".into(), "GY".into()];
    let t = Transformer::new(config, common::open_data_of(&m.catalogue)).unwrap();
    let out = t.run(&common::snapshot_of(&m.source)).unwrap();
    common::assert_counts_add_up(&out);
    assert!(
        !out.rejects
            .iter()
            .any(|r| r.source_id.as_deref() == Some(id.as_str())),
        "adult education is out of scope when VUXGY is not wanted"
    );
}

#[test]
fn an_unknown_school_type_rejects_the_enrolment_whatever_the_scope() {
    let (m, id) = with_first_pupil_as(SourceSchoolType::Other("GRX".to_string()));
    let mut config = common::config();
    config.school_types = vec!["GR".into()];
    let t = Transformer::new(config, common::open_data_of(&m.catalogue)).unwrap();
    let out = t.run(&common::snapshot_of(&m.source)).unwrap();
    common::assert_counts_add_up(&out);
    let row = out
        .rejects
        .iter()
        .find(|r| r.source_id.as_deref() == Some(id.as_str()))
        .expect("a row for the pupil");
    assert_eq!(row.severity, Severity::Rejected);
    assert_eq!(row.value.as_deref(), Some("GRX"));
    assert!(
        row.reason.contains("not a Code_SchoolType value"),
        "{}",
        row.reason
    );
    assert_eq!(out.counts.persons.rejected, 1);
}

#[test]
fn a_class_with_an_unusable_school_type_is_kept_with_a_warning_and_its_members_type() {
    use skolsync_model::GroupType;
    let mut m = common::municipality(300, 6, 0.0);
    let class = m
        .source
        .groups
        .iter_mut()
        .find(|g| g.group_type == GroupType::Klass && g.school_type.is_some())
        .unwrap();
    class.school_type = Some(SourceSchoolType::Other("KLASSFORM".to_string()));
    let id = class.id.as_str().to_string();
    let before = common::run(&common::municipality(300, 6, 0.0), common::config());
    let out = common::run(&m, common::config());
    common::assert_counts_add_up(&out);
    let row = out
        .rejects
        .iter()
        .find(|r| r.source_id.as_deref() == Some(id.as_str()))
        .expect("a warning row for the class");
    assert_eq!(row.severity, Severity::Warning);
    assert_eq!(row.value.as_deref(), Some("KLASSFORM"));
    assert!(row.reason.contains("members' enrolments"), "{}", row.reason);
    // The class still goes, typed from its members, as without the value.
    assert_eq!(out.counts.groups.rejected, before.counts.groups.rejected);
    assert_eq!(out.desired.groups.len(), before.desired.groups.len());
}
