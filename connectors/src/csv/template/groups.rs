//! The two group sheets of the template: *Klasser* and *Ämnesgrupp &
//! provaktiviteter*, with the memberships the person sheets left pending.

use std::collections::HashMap;

use skolsync_model::codes::{ActivityType, GroupType, SourceSchoolType};
use skolsync_model::ids::TestActivityName;
use skolsync_model::ss12000::{
    Activity, DeletedEntityIds, EntityKind, Group, GroupMembership, Meta, Reference,
    TeacherAssignment,
};
use skolsync_model::template::{
    CLASS, CLASS_ID, GROUP_ID, REMOVE, SCHOOL_TYPE, SCHOOL_UNIT_CODE, SUBJECT_GROUP, TEST_ACTIVITY,
};

use super::super::sheet::{Columns, Row, Sheet};
use super::super::{At, Out, derived_id, school_type, school_unit_id};
use super::{Pending, State, TemplateSheet, each_row, parsed, removal, required};
use crate::error::SourceError;
use crate::source::Batch;

/// What the two group sheets share.
struct GroupRow<'r> {
    id: &'r str,
    name: &'r str,
    school_type: SourceSchoolType,
    code: &'r str,
}

fn group_row<'r>(
    out: &mut Out<'_>,
    cols: &Columns,
    row: &'r Row,
    at: At<'_>,
    (id_col, name_col): (&str, &str),
    deleted: &mut DeletedEntityIds,
    seen: &mut HashMap<String, u64>,
) -> Result<Option<GroupRow<'r>>, SourceError> {
    let Some(id) = required(
        out,
        at,
        EntityKind::Group,
        "",
        id_col,
        cols.get(row, id_col),
    )?
    else {
        return Ok(None);
    };
    let Some(remove) = removal(out, at, EntityKind::Group, id, cols.get(row, REMOVE))? else {
        return Ok(None);
    };
    if remove {
        deleted.groups.push(id.into());
        return Ok(None);
    }
    if let Some(first) = seen.get(id) {
        out.reject(at.reject(
            EntityKind::Group,
            id,
            id_col,
            Some(id.to_string()),
            format!("the same group id is on line {first} already"),
        ))?;
        return Ok(None);
    }
    let Some(code) = required(
        out,
        at,
        EntityKind::Group,
        id,
        SCHOOL_UNIT_CODE,
        cols.get(row, SCHOOL_UNIT_CODE),
    )?
    else {
        return Ok(None);
    };
    let raw_type = cols.get(row, SCHOOL_TYPE);
    let Some(raw_type) = required(out, at, EntityKind::Group, id, SCHOOL_TYPE, raw_type)? else {
        return Ok(None);
    };
    let who = (EntityKind::Group, id);
    let Some(school_type) = parsed(out, at, who, SCHOOL_TYPE, raw_type, school_type)? else {
        return Ok(None);
    };
    seen.insert(id.to_string(), at.line);
    Ok(Some(GroupRow {
        id,
        name: cols.get(row, name_col),
        school_type,
        code,
    }))
}

fn memberships(pending: Option<Vec<Pending>>) -> Vec<GroupMembership> {
    pending
        .unwrap_or_default()
        .into_iter()
        .map(|m| GroupMembership {
            person: Reference::to(&m.id),
            start_date: None,
            end_date: None,
        })
        .collect()
}

fn group(g: &GroupRow<'_>, group_type: GroupType, members: Vec<GroupMembership>) -> Group {
    Group {
        id: g.id.into(),
        meta: Meta::default(),
        display_name: g.name.to_string(),
        start_date: None,
        end_date: None,
        group_type,
        school_type: Some(g.school_type.clone()),
        organisation: Reference::to(school_unit_id(g.code)),
        group_memberships: members,
    }
}

/// What sets one group sheet apart from the other.
struct GroupSheet {
    /// Which sheet it is.
    sheet: TemplateSheet,
    /// The id and the name column.
    columns: (&'static str, &'static str),
    /// Its columns besides the id, school type and school unit code.
    optional: &'static [&'static str],
    /// The type of its groups.
    group_type: GroupType,
    /// Its groups' pending memberships.
    members: fn(&mut State) -> &mut HashMap<String, Vec<Pending>>,
    /// What a removed group takes with it (its memberships, at least).
    removed: fn(&mut State, &str),
}

/// Reads a group sheet: each usable row is a group with the members the
/// person sheets left pending; `each` then sees the row and its group
/// (the subject-group sheet makes its test activity there).
fn read_group_sheet(
    sheet: &mut dyn Sheet,
    state: &mut State,
    out: &mut Out<'_>,
    kind: &GroupSheet,
    mut each: impl FnMut(
        &mut State,
        &mut Out<'_>,
        &Columns,
        &Row,
        &GroupRow<'_>,
    ) -> Result<(), SourceError>,
) -> Result<(), SourceError> {
    let (id_col, _) = kind.columns;
    let required = kind.sheet.required();
    let mut groups = Vec::new();
    let mut seen = HashMap::new();
    each_row(
        sheet,
        out,
        EntityKind::Group,
        (required, kind.optional),
        |out, cols, row| {
            let Some(g) = group_row(
                out,
                cols,
                row,
                row.at(),
                kind.columns,
                &mut state.deleted,
                &mut seen,
            )?
            else {
                let id = cols.get(row, id_col);
                if state.deleted.groups.iter().any(|d| d.as_str() == id) {
                    (kind.removed)(state, id);
                }
                return Ok(());
            };
            state
                .unit(out, row.at(), g.code)?
                .insert(g.school_type.clone());
            out.origin(EntityKind::Group, g.id, row.at())?;
            let members = memberships((kind.members)(state).remove(g.id));
            out.push(
                &mut groups,
                group(&g, kind.group_type, members),
                Batch::Groups,
            )?;
            each(state, out, cols, row, &g)
        },
    )?;
    out.flush(&mut groups, Batch::Groups)?;
    Ok(())
}

/// *Klasser*: classes.
pub(super) fn read_classes(
    sheet: &mut dyn Sheet,
    state: &mut State,
    out: &mut Out<'_>,
) -> Result<(), SourceError> {
    let classes = GroupSheet {
        sheet: TemplateSheet::Classes,
        columns: (CLASS_ID, CLASS),
        optional: &[CLASS, REMOVE],
        group_type: GroupType::Klass,
        members: |state| &mut state.class_members,
        // A removed class takes its memberships with it.
        removed: |state, id| {
            state.class_members.remove(id);
        },
    };
    read_group_sheet(sheet, state, out, &classes, |_, _, _, _, _| Ok(()))
}

/// *Ämnesgrupp & provaktiviteter*: subject groups, each with the test
/// activity it sits (an activity of its own, taught by its teachers).
pub(super) fn read_subject_groups(
    sheet: &mut dyn Sheet,
    state: &mut State,
    out: &mut Out<'_>,
) -> Result<(), SourceError> {
    let subject_groups = GroupSheet {
        sheet: TemplateSheet::SubjectGroups,
        columns: (GROUP_ID, SUBJECT_GROUP),
        optional: &[SUBJECT_GROUP, TEST_ACTIVITY, REMOVE],
        group_type: GroupType::Undervisning,
        members: |state| &mut state.group_members,
        // A removed group takes its memberships, teachers and activity.
        removed: |state, id| {
            state.group_members.remove(id);
            state.teachers.remove(id);
            state
                .deleted
                .activities
                .push(derived_id(&["activity", id]).as_str().into());
        },
    };
    let mut activities = Vec::new();
    read_group_sheet(
        sheet,
        state,
        out,
        &subject_groups,
        |state, out, cols, row, g| {
            let test = cols.get(row, TEST_ACTIVITY);
            if test.is_empty() {
                return Ok(());
            }
            let activity = activity(state, g, test);
            out.origin(EntityKind::Activity, activity.id.as_str(), row.at())?;
            out.push(&mut activities, activity, Batch::Activities)?;
            Ok(())
        },
    )?;
    out.flush(&mut activities, Batch::Activities)?;
    Ok(())
}

/// The test activity `test` a subject group sits, taught by its teachers.
fn activity(state: &mut State, g: &GroupRow<'_>, test: &str) -> Activity {
    let teachers = state
        .teachers
        .remove(g.id)
        .unwrap_or_default()
        .into_iter()
        .map(|t| TeacherAssignment {
            duty: Some(Reference::to(&t.id)),
            person: None,
            start_date: None,
            end_date: None,
        })
        .collect();
    Activity {
        id: derived_id(&["activity", g.id]).as_str().into(),
        meta: Meta::default(),
        display_name: g.name.to_string(),
        activity_type: Some(ActivityType::Undervisning),
        start_date: None,
        end_date: None,
        groups: vec![Reference::to(g.id)],
        teachers,
        syllabus: None,
        subject: None,
        organisation: Reference::to(school_unit_id(g.code)),
        parent_activity: vec![Reference::to(
            TestActivityName::new(test).skolverket_id().to_string(),
        )],
        embedded: None,
    }
}

/// Leaves out memberships of groups that never appeared, with a warning each.
pub(super) fn warn_dangling(
    out: &mut Out<'_>,
    pending: &mut HashMap<String, Vec<Pending>>,
    entity: EntityKind,
    file: &str,
    column: &str,
    missing_from: &str,
) -> Result<(), SourceError> {
    let mut left: Vec<(String, Vec<Pending>)> = pending.drain().collect();
    left.sort_by(|a, b| a.0.cmp(&b.0));
    for (group, members) in left {
        for m in members {
            let at = At { file, line: m.line };
            out.reject(
                at.reject(
                    entity,
                    &m.id,
                    column,
                    Some(group.clone()),
                    format!(
                        "group `{group}` is not in {missing_from}; this membership is left out"
                    ),
                )
                .warning(),
            )?;
        }
    }
    Ok(())
}
