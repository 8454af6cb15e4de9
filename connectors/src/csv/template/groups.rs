//! The two group sheets of the template: *Klasser* and *Ämnesgrupp &
//! provaktiviteter*, with the memberships the person sheets left pending.

use std::collections::HashMap;

use skolsync_model::codes::{ActivityType, GroupType, Ss12000SchoolType};
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
use super::{Pending, State, bad_line, removal, required};
use crate::error::SourceError;
use crate::source::Batch;

/// What the two group sheets share.
struct GroupRow<'r> {
    id: &'r str,
    name: &'r str,
    school_type: Ss12000SchoolType,
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
    let school_type = match school_type(raw_type) {
        Ok(t) => t,
        Err(reason) => {
            out.reject(at.reject(
                EntityKind::Group,
                id,
                SCHOOL_TYPE,
                Some(raw_type.to_string()),
                reason,
            ))?;
            return Ok(None);
        }
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
        school_type: Some(g.school_type),
        organisation: Reference::to(school_unit_id(g.code)),
        group_memberships: members,
    }
}

pub(super) fn read_classes(
    sheet: &mut dyn Sheet,
    state: &mut State,
    out: &mut Out<'_>,
) -> Result<(), SourceError> {
    let cols = Columns::named(
        sheet,
        &[CLASS_ID, SCHOOL_TYPE, SCHOOL_UNIT_CODE],
        &[CLASS, REMOVE],
    )?;
    let name = sheet.name().to_string();
    let mut groups = Vec::new();
    let mut seen = HashMap::new();
    while let Some(line) = sheet.next_row()? {
        let Some(row) = bad_line(out, &name, EntityKind::Group, line)? else {
            continue;
        };
        let at = row.at();
        let Some(g) = group_row(
            out,
            &cols,
            &row,
            at,
            (CLASS_ID, CLASS),
            &mut state.deleted,
            &mut seen,
        )?
        else {
            // A removed class takes its memberships with it.
            let id = cols.get(&row, CLASS_ID);
            if state.deleted.groups.iter().any(|d| d.as_str() == id) {
                state.class_members.remove(id);
            }
            continue;
        };
        state
            .units
            .entry(g.code.to_string())
            .or_default()
            .insert(g.school_type);
        let members = memberships(state.class_members.remove(g.id));
        out.push(
            &mut groups,
            group(&g, GroupType::Klass, members),
            Batch::Groups,
        )?;
    }
    out.flush(&mut groups, Batch::Groups)?;
    cols.check(sheet)?;
    Ok(())
}

pub(super) fn read_subject_groups(
    sheet: &mut dyn Sheet,
    state: &mut State,
    out: &mut Out<'_>,
) -> Result<(), SourceError> {
    let cols = Columns::named(
        sheet,
        &[GROUP_ID, SCHOOL_TYPE, SCHOOL_UNIT_CODE],
        &[SUBJECT_GROUP, TEST_ACTIVITY, REMOVE],
    )?;
    let name = sheet.name().to_string();
    let mut groups = Vec::new();
    let mut activities = Vec::new();
    let mut seen = HashMap::new();
    while let Some(line) = sheet.next_row()? {
        let Some(row) = bad_line(out, &name, EntityKind::Group, line)? else {
            continue;
        };
        let at = row.at();
        let Some(g) = group_row(
            out,
            &cols,
            &row,
            at,
            (GROUP_ID, SUBJECT_GROUP),
            &mut state.deleted,
            &mut seen,
        )?
        else {
            let id = cols.get(&row, GROUP_ID);
            if state.deleted.groups.iter().any(|d| d.as_str() == id) {
                state.group_members.remove(id);
                state.teachers.remove(id);
                state
                    .deleted
                    .activities
                    .push(derived_id(&["activity", id]).as_str().into());
            }
            continue;
        };
        state
            .units
            .entry(g.code.to_string())
            .or_default()
            .insert(g.school_type);
        let members = memberships(state.group_members.remove(g.id));
        out.push(
            &mut groups,
            group(&g, GroupType::Undervisning, members),
            Batch::Groups,
        )?;
        let test = cols.get(&row, TEST_ACTIVITY);
        if test.is_empty() {
            continue;
        }
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
        let activity = Activity {
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
        };
        out.push(&mut activities, activity, Batch::Activities)?;
    }
    out.flush(&mut groups, Batch::Groups)?;
    out.flush(&mut activities, Batch::Activities)?;
    cols.check(sheet)?;
    Ok(())
}
