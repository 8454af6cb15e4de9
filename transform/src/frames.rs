//! Entities become frames: one row per entity or per nested item, with the
//! entity's position in the snapshot as a `u32` so results can be re-nested
//! without copying what the frames do not need.
//!
//! Column names carry a per-frame prefix (`e_` enrolments, `d_` duties, …)
//! so joins never have to rename. Values are normalised on the way in only
//! where the normalisation is a lookup of a fixed table (school types); all
//! decisions are left to the joins in [`crate::stages`].

use std::collections::HashSet;

use chrono::NaiveDate;
use polars::prelude::*;
use skolsync_model::ss12000::{Organisation, Snapshot};
use skolsync_model::{SchoolType, SourceSchoolType};

use crate::open_data::OpenData;

/// Index of an entity in its snapshot list.
pub(crate) fn idx(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// Whether `day` lies within optional inclusive bounds.
pub(crate) fn within(start: Option<NaiveDate>, end: Option<NaiveDate>, day: NaiveDate) -> bool {
    start.is_none_or(|s| s <= day) && end.is_none_or(|e| day <= e)
}

/// The profile school type of an SS 12000 one, as the profile writes it.
pub(crate) fn profile_type(t: &SourceSchoolType) -> Option<&'static str> {
    t.profile().map(SchoolType::as_str)
}

/// Why a source school type cannot be placed at all (a reason code), or
/// `None` when it is a profile type or a known type outside the profile.
/// Such an enrolment is in scope and rejected (only it, never the person):
/// leaving it out silently could drop a pupil who takes national tests.
pub(crate) fn type_problem(t: &SourceSchoolType) -> Option<&'static str> {
    match t.known() {
        None => Some(crate::reasons::code::TYPE_UNKNOWN),
        Some(k) if k.is_adult_education_of_unknown_level() => {
            Some(crate::reasons::code::TYPE_LEVEL_UNKNOWN)
        }
        Some(_) => None,
    }
}

/// A group's school type as the transform uses it: a value that names no
/// known type, or adult education without a level (`KOMVUX`, `VUX`), is
/// read as absent, so the type is deduced from the members' enrolments
/// like that of a group without one. Not documented; chosen because a
/// group's type only tells its test's school type, which its members'
/// enrolments tell as well.
fn group_type_src(t: Option<&SourceSchoolType>) -> Option<&SourceSchoolType> {
    t.filter(|t| type_problem(t).is_none())
}

fn df(columns: Vec<Column>) -> PolarsResult<DataFrame> {
    DataFrame::new_infer_height(columns)
}

fn c<N, T>(name: &str, values: T) -> Column
where
    Series: NamedFrom<T, N>,
    N: ?Sized,
{
    Column::new(name.into(), values)
}

/// The frames of one snapshot.
pub(crate) struct SourceFrames {
    /// `unit_ref`, `unit_code`, `unit_is_unit`: organisations (and the ids
    /// open-data gives school units, which some sources reference directly).
    pub units: DataFrame,
    /// `p`, `person_id`.
    pub persons: DataFrame,
    /// `e_p`, `e_n`, `e_unit_ref`, `e_type`, `e_type_src`, `e_type_problem`, `e_year`,
    /// `e_needs_year`, `e_edu_own`, `e_prog_ref` (active enrolments only).
    pub enrolments: DataFrame,
    /// `prog_ref`, `prog_code`: the source's programmes.
    pub programmes: DataFrame,
    /// `d`, `d_id`, `d_person_ref`, `d_unit_ref`, `d_role_src`, `d_active`.
    pub duties: DataFrame,
    /// `g`, `g_id`, `g_type`, `g_stype`, `g_stype_src`, `g_unit_ref`, `g_active`, `g_named`.
    pub groups: DataFrame,
    /// `m_g`, `m_p`: memberships current on the reference date whose
    /// person is in the snapshot. The person reference is interned to the
    /// person's position when the frame is built (a dictionary encoding of
    /// the biggest reference table: millions of rows of 36-character ids
    /// become `u32`s, and joining them on persons is an integer join).
    pub members: DataFrame,
    /// `mm_g`, `mm_person_ref`: current memberships of persons the
    /// snapshot does not have.
    pub members_missing: DataFrame,
    /// `a`, `a_id`, `a_type`, `a_unit_ref`, `a_active`, `a_parent`,
    /// `a_syllabus_ref`, `a_inline_code`.
    pub activities: DataFrame,
    /// `s_ref`, `s_subject`, `s_course`, `s_stype`, `s_start`, `s_end`.
    pub syllabuses: DataFrame,
    /// `ag_a`, `ag_n`, `ag_group_ref`.
    pub activity_groups: DataFrame,
    /// `at_a`, `at_n`, `at_duty_ref`, `at_person_ref` (current assignments).
    pub activity_teachers: DataFrame,
}

impl SourceFrames {
    pub(crate) fn build(
        snapshot: &Snapshot,
        open_data: &OpenData,
        day: NaiveDate,
    ) -> PolarsResult<Self> {
        let (members, members_missing) = members(snapshot, day)?;
        Ok(SourceFrames {
            units: units(&snapshot.organisations, open_data)?,
            persons: persons(snapshot)?,
            enrolments: enrolments(snapshot, day)?,
            programmes: programmes(snapshot)?,
            duties: duties(snapshot, day)?,
            groups: groups(snapshot, day)?,
            members,
            members_missing,
            activities: activities(snapshot, day)?,
            syllabuses: syllabuses(snapshot)?,
            activity_groups: activity_groups(snapshot)?,
            activity_teachers: activity_teachers(snapshot, day)?,
        })
    }
}

fn units(organisations: &[Organisation], open_data: &OpenData) -> PolarsResult<DataFrame> {
    let mut seen = std::collections::HashSet::new();
    let mut refs: Vec<&str> = Vec::new();
    let mut codes: Vec<Option<&str>> = Vec::new();
    for o in organisations {
        if !seen.insert(o.id.as_str()) {
            continue;
        }
        refs.push(o.id.as_str());
        codes.push(
            o.school_unit_code
                .as_deref()
                .map(str::trim)
                .filter(|c| !c.is_empty()),
        );
    }
    // Some sources put Skolverket's school unit id straight into the
    // reference; accept it as the unit with that code.
    let od_ids: Vec<String> = open_data
        .school_units
        .iter()
        .map(|u| u.id.hyphenated().to_string())
        .collect();
    for (u, id) in open_data.school_units.iter().zip(&od_ids) {
        if seen.insert(id.as_str()) {
            refs.push(id.as_str());
            codes.push(Some(u.school_unit_code.as_str()));
        }
    }
    let known = vec![true; refs.len()];
    df(vec![
        c("unit_ref", refs),
        c("unit_code", codes),
        c("unit_known", known),
    ])
}

fn persons(s: &Snapshot) -> PolarsResult<DataFrame> {
    let p: Vec<u32> = (0..s.persons.len()).map(idx).collect();
    let ids: Vec<&str> = s.persons.iter().map(|p| p.id.as_str()).collect();
    df(vec![c("p", p), c("person_id", ids)])
}

fn enrolments(s: &Snapshot, day: NaiveDate) -> PolarsResult<DataFrame> {
    let n = s.persons.iter().map(|p| p.enrolments.len()).sum();
    let mut e_p = Vec::with_capacity(n);
    let mut e_n = Vec::with_capacity(n);
    let mut unit = Vec::with_capacity(n);
    let mut stype = Vec::with_capacity(n);
    let mut stype_src = Vec::with_capacity(n);
    let mut stype_problem = Vec::with_capacity(n);
    let mut year = Vec::with_capacity(n);
    let mut needs_year = Vec::with_capacity(n);
    let mut edu = Vec::with_capacity(n);
    let mut prog = Vec::with_capacity(n);
    for (i, person) in s.persons.iter().enumerate() {
        for (k, e) in person.enrolments.iter().enumerate() {
            if !e.is_active_on(day) {
                continue;
            }
            let t = profile_type(&e.school_type);
            e_p.push(idx(i));
            e_n.push(idx(k));
            unit.push(e.enroled_at.id.as_str());
            stype.push(t);
            stype_src.push(e.school_type.as_str());
            stype_problem.push(type_problem(&e.school_type));
            year.push(e.school_year.map(i32::from));
            needs_year.push(matches!(t, Some("GR" | "SP" | "SAM")));
            edu.push(e.education_code.as_deref());
            prog.push(e.programme.as_ref().map(|r| r.id.as_str()));
        }
    }
    df(vec![
        c("e_p", e_p),
        c("e_n", e_n),
        c("e_unit_ref", unit),
        c("e_type", stype),
        c("e_type_src", stype_src),
        c("e_type_problem", stype_problem),
        c("e_year", year),
        c("e_needs_year", needs_year),
        c("e_edu_own", edu),
        c("e_prog_ref", prog),
    ])
}

fn programmes(s: &Snapshot) -> PolarsResult<DataFrame> {
    let mut seen = std::collections::HashSet::new();
    let mut refs = Vec::new();
    let mut codes = Vec::new();
    for p in &s.programmes {
        if seen.insert(p.id.as_str()) {
            refs.push(p.id.as_str());
            codes.push(p.code.as_deref());
        }
    }
    df(vec![c("prog_ref", refs), c("prog_code", codes)])
}

fn duties(s: &Snapshot, day: NaiveDate) -> PolarsResult<DataFrame> {
    let d: Vec<u32> = (0..s.duties.len()).map(idx).collect();
    let ids: Vec<&str> = s.duties.iter().map(|d| d.id.as_str()).collect();
    let person: Vec<Option<&str>> = s
        .duties
        .iter()
        .map(|d| d.person.as_ref().map(|r| r.id.as_str()))
        .collect();
    let unit: Vec<&str> = s.duties.iter().map(|d| d.duty_at.id.as_str()).collect();
    let role: Vec<&str> = s.duties.iter().map(|d| d.duty_role.as_str()).collect();
    let active: Vec<bool> = s.duties.iter().map(|d| d.is_active_on(day)).collect();
    df(vec![
        c("d", d),
        c("d_id", ids),
        c("d_person_ref", person),
        c("d_unit_ref", unit),
        c("d_role_src", role),
        c("d_active", active),
    ])
}

fn groups(s: &Snapshot, day: NaiveDate) -> PolarsResult<DataFrame> {
    let g: Vec<u32> = (0..s.groups.len()).map(idx).collect();
    let ids: Vec<&str> = s.groups.iter().map(|g| g.id.as_str()).collect();
    let types: Vec<&str> = s.groups.iter().map(|g| g.group_type.as_str()).collect();
    let stype: Vec<Option<&str>> = s
        .groups
        .iter()
        .map(|g| group_type_src(g.school_type.as_ref()).and_then(profile_type))
        .collect();
    let stype_src: Vec<Option<&str>> = s
        .groups
        .iter()
        .map(|g| group_type_src(g.school_type.as_ref()).map(SourceSchoolType::as_str))
        .collect();
    let unit: Vec<&str> = s
        .groups
        .iter()
        .map(|g| g.organisation.id.as_str())
        .collect();
    let active: Vec<bool> = s
        .groups
        .iter()
        .map(|g| within(g.start_date, g.end_date, day))
        .collect();
    let named: Vec<bool> = s
        .groups
        .iter()
        .map(|g| !g.display_name.trim().is_empty())
        .collect();
    df(vec![
        c("g", g),
        c("g_id", ids),
        c("g_type", types),
        c("g_stype", stype),
        c("g_stype_src", stype_src),
        c("g_unit_ref", unit),
        c("g_active", active),
        c("g_named", named),
    ])
}

fn members(s: &Snapshot, day: NaiveDate) -> PolarsResult<(DataFrame, DataFrame)> {
    // Each id to its first record, as duplicate ids are resolved elsewhere.
    let mut position: std::collections::HashMap<&str, u32> =
        std::collections::HashMap::with_capacity(s.persons.len());
    for (i, p) in s.persons.iter().enumerate() {
        position.entry(p.id.as_str()).or_insert(idx(i));
    }
    let n = s.groups.iter().map(|g| g.group_memberships.len()).sum();
    let mut m_g = Vec::with_capacity(n);
    let mut m_p = Vec::with_capacity(n);
    let mut missing_g = Vec::new();
    let mut missing_ref = Vec::new();
    for (i, g) in s.groups.iter().enumerate() {
        for m in &g.group_memberships {
            if !m.is_active_on(day) {
                continue;
            }
            match position.get(m.person.id.as_str()) {
                Some(p) => {
                    m_g.push(idx(i));
                    m_p.push(*p);
                }
                None => {
                    missing_g.push(idx(i));
                    missing_ref.push(m.person.id.as_str());
                }
            }
        }
    }
    Ok((
        df(vec![c("m_g", m_g), c("m_p", m_p)])?,
        df(vec![c("mm_g", missing_g), c("mm_person_ref", missing_ref)])?,
    ))
}

fn activities(s: &Snapshot, day: NaiveDate) -> PolarsResult<DataFrame> {
    let a: Vec<u32> = (0..s.activities.len()).map(idx).collect();
    let ids: Vec<&str> = s.activities.iter().map(|a| a.id.as_str()).collect();
    let types: Vec<Option<&str>> = s
        .activities
        .iter()
        .map(|a| a.activity_type.map(|t| t.as_str()))
        .collect();
    let unit: Vec<&str> = s
        .activities
        .iter()
        .map(|a| a.organisation.id.as_str())
        .collect();
    let active: Vec<bool> = s
        .activities
        .iter()
        .map(|a| within(a.start_date, a.end_date, day))
        .collect();
    let parent: Vec<Option<&str>> = s
        .activities
        .iter()
        .map(|a| a.parent_activity.first().map(|r| r.id.as_str()))
        .collect();
    // An embedded syllabus (expand) counts like a reference to it.
    let syllabus: Vec<Option<&str>> = s
        .activities
        .iter()
        .map(|a| {
            a.syllabus.as_ref().map(|r| r.id.as_str()).or_else(|| {
                a.embedded
                    .as_ref()
                    .and_then(|e| e.syllabus.as_ref())
                    .map(|s| s.id.as_str())
            })
        })
        .collect();
    let inline: Vec<Option<&str>> = s
        .activities
        .iter()
        .map(|a| {
            a.subject
                .as_ref()
                .and_then(|s| s.code.as_deref())
                .map(str::trim)
                .filter(|c| !c.is_empty())
        })
        .collect();
    df(vec![
        c("a", a),
        c("a_id", ids),
        c("a_type", types),
        c("a_unit_ref", unit),
        c("a_active", active),
        c("a_parent", parent),
        c("a_syllabus_ref", syllabus),
        c("a_inline_code", inline),
    ])
}

fn syllabuses(s: &Snapshot) -> PolarsResult<DataFrame> {
    let mut seen = std::collections::HashSet::new();
    let mut refs = Vec::new();
    let mut subject = Vec::new();
    let mut course = Vec::new();
    let mut stype = Vec::new();
    let mut start = Vec::new();
    let mut end = Vec::new();
    // Syllabuses embedded in activities count too; the list comes first.
    let embedded = s
        .activities
        .iter()
        .filter_map(|a| a.embedded.as_ref().and_then(|e| e.syllabus.as_ref()));
    for syl in s.syllabuses.iter().chain(embedded) {
        if !seen.insert(syl.id.as_str()) {
            continue;
        }
        refs.push(syl.id.as_str());
        subject.push(syl.subject_code.as_deref());
        course.push(syl.course_code.as_deref());
        stype.push(syl.school_type.as_ref().and_then(profile_type));
        start.push(syl.start_school_year.map(i32::from));
        end.push(syl.end_school_year.map(i32::from));
    }
    df(vec![
        c("s_ref", refs),
        c("s_subject", subject),
        c("s_course", course),
        c("s_stype", stype),
        c("s_start", start),
        c("s_end", end),
    ])
}

fn activity_groups(s: &Snapshot) -> PolarsResult<DataFrame> {
    let mut a = Vec::new();
    let mut n = Vec::new();
    let mut group = Vec::new();
    for (i, act) in s.activities.iter().enumerate() {
        for (k, g) in act.groups.iter().enumerate() {
            a.push(idx(i));
            n.push(idx(k));
            group.push(g.id.as_str());
        }
    }
    df(vec![c("ag_a", a), c("ag_n", n), c("ag_group_ref", group)])
}

fn activity_teachers(s: &Snapshot, day: NaiveDate) -> PolarsResult<DataFrame> {
    let mut a = Vec::new();
    let mut n = Vec::new();
    let mut duty = Vec::new();
    let mut person = Vec::new();
    for (i, act) in s.activities.iter().enumerate() {
        for (k, t) in act.teachers.iter().enumerate() {
            if !within(t.start_date, t.end_date, day) {
                continue;
            }
            let d = t.duty.as_ref().map(|r| r.id.as_str());
            let p = t.person.as_ref().map(|r| r.id.as_str());
            if d.is_none() && p.is_none() {
                continue;
            }
            a.push(idx(i));
            n.push(idx(k));
            duty.push(d);
            person.push(p);
        }
    }
    df(vec![
        c("at_a", a),
        c("at_n", n),
        c("at_duty_ref", duty),
        c("at_person_ref", person),
    ])
}

/// Frames of open-data (and the parts of the config that are tables),
/// built once per [`crate::Transformer`].
#[derive(Clone)]
pub(crate) struct CatalogueFrames {
    /// `od_code`, `unit_id`, `unit_status`, `unit_dnp`.
    pub units: DataFrame,
    /// `t_code`, `t_type`, `t_dnp`.
    pub types: DataFrame,
    /// `y_code`, `y_type`, `y_year`, `y_dnp`.
    pub years: DataFrame,
    /// `pr_code`, `pr_status`, `pr_valid_from`, `pr_usable`.
    pub programmes: DataFrame,
    /// `tn_name`, `tn_stype`, `tn_year`: every test activity by name.
    pub tests: DataFrame,
    /// `x_key`, `x_name`: a `parentActivity` reference (Skolverket id or
    /// display name) → test activity name.
    pub tests_by_ref: DataFrame,
    /// `ts_subject`, `ts_year`, `ts_name`: GR/SP/SAM tests by subject + year.
    pub tests_by_subject: DataFrame,
    /// `tc_name`, `tc_hit`: GY/VUXGY tests (course codes).
    pub tests_by_course: DataFrame,
    /// `scope_code`, `scoped`: the configured school units.
    pub scope_units: DataFrame,
    /// `sm_local`, `sm_target`: the subject map.
    pub subject_map: DataFrame,
    /// `r_code`, `r_year`, `r_name`: test activity rules with a year.
    pub rules_by_year: DataFrame,
    /// `ra_code`, `ra_name`: test activity rules for every year.
    pub rules_any_year: DataFrame,
}

/// A test activity name's subject part and year, for `GRGRMAT01_6`.
pub(crate) fn split_subject_year(name: &str) -> Option<(&str, i32)> {
    let (subject, year) = name.rsplit_once('_')?;
    let year: i32 = year.parse().ok()?;
    (!subject.is_empty()).then_some((subject, year))
}

pub(crate) struct CatalogueInput<'a> {
    pub open_data: &'a OpenData,
    pub day: NaiveDate,
    pub scope_units: &'a [String],
    pub subject_map: &'a [(String, String)],
    pub rules: &'a [(String, Option<u8>, String)],
}

impl CatalogueFrames {
    pub(crate) fn build(input: CatalogueInput<'_>) -> PolarsResult<Self> {
        let od = input.open_data;
        let (units, types, years) = school_unit_frames(od)?;
        let programmes = programme_frame(od, input.day)?;
        let (tests, tests_by_ref, tests_by_subject, tests_by_course) = test_frames(od)?;
        let scope: Vec<&str> = input.scope_units.iter().map(String::as_str).collect();
        let scoped = vec![true; scope.len()];
        let scope_units = df(vec![c("scope_code", scope), c("scoped", scoped)])?;

        let sm_local: Vec<&str> = input.subject_map.iter().map(|(k, _)| k.as_str()).collect();
        let sm_target: Vec<&str> = input.subject_map.iter().map(|(_, v)| v.as_str()).collect();
        let subject_map = df(vec![c("sm_local", sm_local), c("sm_target", sm_target)])?;

        let (rules_by_year, rules_any_year) = rule_frames(input.rules)?;

        Ok(CatalogueFrames {
            units,
            types,
            years,
            programmes,
            tests,
            tests_by_ref,
            tests_by_subject,
            tests_by_course,
            scope_units,
            subject_map,
            rules_by_year,
            rules_any_year,
        })
    }
}

/// School units, their school types and their years, each once
/// (`od_code`…, `t_code`…, `y_code`…).
fn school_unit_frames(od: &OpenData) -> PolarsResult<(DataFrame, DataFrame, DataFrame)> {
    let mut seen = HashSet::new();
    let (mut code, mut id, mut status, mut dnp) = (vec![], vec![], vec![], vec![]);
    let (mut t_code, mut t_type, mut t_dnp) = (vec![], vec![], vec![]);
    let (mut y_code, mut y_type, mut y_year, mut y_dnp) = (vec![], vec![], vec![], vec![]);
    for u in &od.school_units {
        if !seen.insert(u.school_unit_code.as_str()) {
            continue;
        }
        code.push(u.school_unit_code.as_str());
        id.push(u.id.hyphenated().to_string());
        status.push(u.status.map(status_text));
        // An absent dnpStatus is read as "not known to be off".
        dnp.push(u.dnp_status.unwrap_or(true));
        let mut types_seen = HashSet::new();
        for t in &u.school_types {
            let Some(profile) = t.profile_school_type() else {
                continue;
            };
            if !types_seen.insert(profile) {
                continue;
            }
            t_code.push(u.school_unit_code.as_str());
            t_type.push(profile.as_str());
            t_dnp.push(t.dnp_status.unwrap_or(true));
            let mut years_seen = HashSet::new();
            for y in &t.school_years {
                if years_seen.insert(y.school_year) {
                    y_code.push(u.school_unit_code.as_str());
                    y_type.push(profile.as_str());
                    y_year.push(i32::from(y.school_year));
                    y_dnp.push(y.dnp_status.unwrap_or(true));
                }
            }
        }
    }
    let units = df(vec![
        c("od_code", code),
        c("unit_id", id),
        c("unit_status", status),
        c("unit_dnp", dnp),
    ])?;
    let types = df(vec![
        c("t_code", t_code),
        c("t_type", t_type),
        c("t_dnp", t_dnp),
    ])?;
    let years = df(vec![
        c("y_code", y_code),
        c("y_type", y_type),
        c("y_year", y_year),
        c("y_dnp", y_dnp),
    ])?;
    Ok((units, types, years))
}

/// Programmes by education code, each once (`pr_code`…); usable when valid
/// on `day`.
fn programme_frame(od: &OpenData, day: NaiveDate) -> PolarsResult<DataFrame> {
    let mut seen = HashSet::new();
    let (mut pr_code, mut pr_status, mut pr_from, mut pr_usable) = (vec![], vec![], vec![], vec![]);
    for p in &od.programmes {
        if !seen.insert(p.education_code.trim()) {
            continue;
        }
        let from = p.valid_from.as_deref().and_then(date_part);
        pr_code.push(p.education_code.trim());
        pr_status.push(p.status.map(status_text));
        pr_from.push(p.valid_from.as_deref().map(|v| v.get(..10).unwrap_or(v)));
        pr_usable.push(from.is_none_or(|d| d <= day));
    }
    let programmes = df(vec![
        c("pr_code", pr_code),
        c("pr_status", pr_status),
        c("pr_valid_from", pr_from),
        c("pr_usable", pr_usable),
    ])?;
    Ok(programmes)
}

/// Test activities by name (`tn_name`…), by id or name (`x_key`), by
/// subject and year (`ts_subject`…) and by course (`tc_name`).
fn test_frames(od: &OpenData) -> PolarsResult<(DataFrame, DataFrame, DataFrame, DataFrame)> {
    let mut seen = HashSet::new();
    let (mut tn_name, mut tn_stype, mut tn_year) = (vec![], vec![], vec![]);
    let (mut x_key, mut x_name) = (vec![], vec![]);
    let (mut ts_subject, mut ts_year, mut ts_name) = (vec![], vec![], vec![]);
    let mut tc_name = vec![];
    let ids: Vec<String> = od
        .test_activities
        .iter()
        .map(|t| t.id.hyphenated().to_string())
        .collect();
    for (t, id) in od.test_activities.iter().zip(&ids) {
        let name = t.display_name.trim();
        let Ok(stype) = t.school_type.parse::<SchoolType>() else {
            continue;
        };
        if !seen.insert(name) {
            continue;
        }
        tn_name.push(name);
        tn_stype.push(stype.as_str());
        tn_year.push(t.school_year.map(i32::from));
        x_key.push(id.as_str());
        x_name.push(name);
        x_key.push(name);
        x_name.push(name);
        if stype.is_course_based() {
            tc_name.push(name);
        } else if let Some((subject, year)) = split_subject_year(name) {
            ts_subject.push(subject);
            ts_year.push(t.school_year.map_or(year, i32::from));
            ts_name.push(name);
        }
    }
    let tests = df(vec![
        c("tn_name", tn_name),
        c("tn_stype", tn_stype),
        c("tn_year", tn_year),
    ])?;
    let tests_by_ref = df(vec![c("x_key", x_key), c("x_name", x_name)])?;
    let tests_by_subject = df(vec![
        c("ts_subject", ts_subject),
        c("ts_year", ts_year),
        c("ts_name", ts_name),
    ])?;
    let tc_hit = vec![true; tc_name.len()];
    let tests_by_course = df(vec![c("tc_name", tc_name), c("tc_hit", tc_hit)])?;
    Ok((tests, tests_by_ref, tests_by_subject, tests_by_course))
}

/// The configured test activity rules, with a school year and without.
fn rule_frames(rules: &[(String, Option<u8>, String)]) -> PolarsResult<(DataFrame, DataFrame)> {
    let (mut r_code, mut r_year, mut r_name) = (vec![], vec![], vec![]);
    let (mut ra_code, mut ra_name) = (vec![], vec![]);
    for (code, year, name) in rules {
        match year {
            Some(y) => {
                r_code.push(code.as_str());
                r_year.push(i32::from(*y));
                r_name.push(name.as_str());
            }
            None => {
                ra_code.push(code.as_str());
                ra_name.push(name.as_str());
            }
        }
    }
    let rules_by_year = df(vec![
        c("r_code", r_code),
        c("r_year", r_year),
        c("r_name", r_name),
    ])?;
    let rules_any_year = df(vec![c("ra_code", ra_code), c("ra_name", ra_name)])?;
    Ok((rules_by_year, rules_any_year))
}

fn status_text(s: skolsync_model::open_data::Status) -> &'static str {
    match s {
        skolsync_model::open_data::Status::New => "New",
        skolsync_model::open_data::Status::Active => "Active",
        skolsync_model::open_data::Status::Expired => "Expired",
    }
}

/// The date of an RFC 3339 timestamp (or a bare date).
fn date_part(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text.get(..10)?, "%Y-%m-%d").ok()
}
