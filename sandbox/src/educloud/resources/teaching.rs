//! The [`Resource`] implementations of teaching: groups, activities,
//! syllabuses and programmes.

use std::collections::{BTreeSet, HashSet};

use serde_json::{Map, Value};
use skolsync_model::codes::{GroupType, SourceSchoolType, Ss12000SchoolType};
use skolsync_model::ss12000::{Activity, EntityKind, Group, Programme, Syllabus};

use super::{
    Embeds, LookupBody, LookupContext, Names, Predicate, Resource, Wanted, by_id, filters,
    groups_with_members, subtree, to_json,
};
use crate::educloud::ApiError;
use crate::educloud::query::Params;
use crate::world::SourceData;

impl Resource for Group {
    const FILTERS: &'static [&'static str] =
        filters!["groupType", "schoolTypes", "organisation"; dated];
    const EXPANDS: &'static [&'static str] = &["assignmentRoles"];

    fn predicate<'a>(
        params: Params<'_>,
        _data: &'a SourceData,
    ) -> Result<Predicate<'a, Self>, ApiError> {
        let types: Vec<GroupType> = params.codes("groupType")?;
        let school_types: Vec<Ss12000SchoolType> = params.codes("schoolTypes")?;
        let organisations: HashSet<String> = params.set("organisation");
        let dates = params.date_range("")?;
        Ok(Box::new(move |g: &Group| {
            (types.is_empty() || types.contains(&g.group_type))
                && (school_types.is_empty()
                    || g.school_type
                        .as_ref()
                        .and_then(SourceSchoolType::known)
                        .is_some_and(|t| school_types.contains(&t)))
                && (organisations.is_empty() || organisations.contains(g.organisation.id.as_str()))
                && dates.matches(g.start_date, g.end_date)
        }))
    }

    fn references(&self, wanted: &mut Wanted) {
        wanted.add(EntityKind::Organisation, &self.organisation);
        for m in &self.group_memberships {
            wanted.add(EntityKind::Person, &m.person);
        }
    }

    fn set_names(&mut self, names: &Names) {
        names.set(EntityKind::Organisation, &mut self.organisation);
        for m in &mut self.group_memberships {
            names.set(EntityKind::Person, &mut m.person);
        }
    }

    fn embed(page: &[&Self], _data: &SourceData, expand: &BTreeSet<String>) -> Embeds {
        // Duties in the sandbox carry no assignment roles, so the list is empty.
        page.iter()
            .filter(|_| expand.contains("assignmentRoles"))
            .map(|g| {
                let mut map = Map::new();
                map.insert("assignmentRoles".to_string(), Value::Array(Vec::new()));
                (g.id.as_str().to_string(), map)
            })
            .collect()
    }
}

impl Resource for Activity {
    const FILTERS: &'static [&'static str] = filters!["member", "teacher", "organisation", "group"];
    const EXPANDS: &'static [&'static str] = &["groups", "teachers", "syllabus"];
    const NEEDS_FINISH: bool = true;

    fn predicate<'a>(
        params: Params<'_>,
        data: &'a SourceData,
    ) -> Result<Predicate<'a, Self>, ApiError> {
        let member_groups = params.one("member").map(|m| groups_with_members(data, [m]));
        let teacher = params.one("teacher").map(str::to_string);
        let organisations = params.one("organisation").map(|o| subtree(data, o));
        let group = params.one("group").map(str::to_string);
        Ok(Box::new(move |a: &Activity| {
            member_groups
                .as_ref()
                .is_none_or(|gs| a.groups.iter().any(|g| gs.contains(g.id.as_str())))
                && teacher.as_ref().is_none_or(|t| {
                    a.teachers
                        .iter()
                        .any(|x| x.duty.as_ref().is_some_and(|d| d.id.as_str() == t))
                })
                && organisations
                    .as_ref()
                    .is_none_or(|o| o.contains(a.organisation.id.as_str()))
                && group
                    .as_ref()
                    .is_none_or(|g| a.groups.iter().any(|x| x.id.as_str() == g))
        }))
    }

    fn looked_up(&self, body: &LookupBody, ctx: &LookupContext) -> bool {
        body.ids.iter().any(|id| id == self.id.as_str())
            || self.teachers.iter().any(|t| {
                t.duty
                    .as_ref()
                    .is_some_and(|d| body.teachers.iter().any(|x| x == d.id.as_str()))
            })
            || self
                .groups
                .iter()
                .any(|g| ctx.member_groups.contains(g.id.as_str()))
    }

    fn references(&self, wanted: &mut Wanted) {
        for g in &self.groups {
            wanted.add(EntityKind::Group, g);
        }
        for t in &self.teachers {
            wanted.add_opt(EntityKind::Duty, t.duty.as_ref());
            wanted.add_opt(EntityKind::Person, t.person.as_ref());
        }
        wanted.add_opt(EntityKind::Syllabus, self.syllabus.as_ref());
        wanted.add(EntityKind::Organisation, &self.organisation);
        for p in &self.parent_activity {
            wanted.add(EntityKind::Activity, p);
        }
    }

    fn set_names(&mut self, names: &Names) {
        for g in &mut self.groups {
            names.set(EntityKind::Group, g);
        }
        for t in &mut self.teachers {
            names.set_opt(EntityKind::Duty, t.duty.as_mut());
            names.set_opt(EntityKind::Person, t.person.as_mut());
        }
        names.set_opt(EntityKind::Syllabus, self.syllabus.as_mut());
        names.set(EntityKind::Organisation, &mut self.organisation);
        for p in &mut self.parent_activity {
            names.set(EntityKind::Activity, p);
        }
    }

    fn embed(page: &[&Self], data: &SourceData, expand: &BTreeSet<String>) -> Embeds {
        let mut embeds = Embeds::new();
        if expand.is_empty() {
            return embeds;
        }
        let wanted_groups: HashSet<&str> = page
            .iter()
            .flat_map(|a| a.groups.iter().map(|g| g.id.as_str()))
            .collect();
        let wanted_duties: HashSet<&str> = page
            .iter()
            .flat_map(|a| {
                a.teachers
                    .iter()
                    .filter_map(|t| t.duty.as_ref().map(|d| d.id.as_str()))
            })
            .collect();
        let wanted_syllabuses: HashSet<&str> = page
            .iter()
            .filter_map(|a| a.syllabus.as_ref().map(|s| s.id.as_str()))
            .collect();
        let groups = by_id(&data.groups, &wanted_groups, expand.contains("groups"));
        let duties = by_id(&data.duties, &wanted_duties, expand.contains("teachers"));
        let syllabuses = by_id(
            &data.syllabuses,
            &wanted_syllabuses,
            expand.contains("syllabus"),
        );
        for a in page {
            let mut map = Map::new();
            if expand.contains("groups") {
                let list = a
                    .groups
                    .iter()
                    .filter_map(|g| groups.get(g.id.as_str()))
                    .map(to_json)
                    .collect();
                map.insert("groups".to_string(), Value::Array(list));
            }
            if expand.contains("teachers") {
                let list = a
                    .teachers
                    .iter()
                    .filter_map(|t| t.duty.as_ref().and_then(|d| duties.get(d.id.as_str())))
                    .map(to_json)
                    .collect();
                map.insert("teachers".to_string(), Value::Array(list));
            }
            if let Some(s) = a
                .syllabus
                .as_ref()
                .and_then(|s| syllabuses.get(s.id.as_str()))
            {
                map.insert("syllabus".to_string(), to_json(s));
            }
            embeds.insert(a.id.as_str().to_string(), map);
        }
        embeds
    }

    /// The spec's `Activity` has one `parentActivity` reference (not a list)
    /// and a required `calendarEventsRequired`; anything embedded in the
    /// stored form is replaced by what `expand` asks for.
    fn finish(value: &mut Value) {
        let Value::Object(map) = value else { return };
        map.remove("_embedded");
        if let Some(Value::Array(parents)) = map.get_mut("parentActivity")
            && parents.len() == 1
        {
            let single = parents.remove(0);
            map.insert("parentActivity".to_string(), single);
        }
        map.entry("calendarEventsRequired")
            .or_insert(Value::Bool(false));
    }
}

impl Resource for Syllabus {
    const FILTERS: &'static [&'static str] = filters![];
    const EXPANDS: &'static [&'static str] = &[];

    fn predicate<'a>(
        _params: Params<'_>,
        _data: &'a SourceData,
    ) -> Result<Predicate<'a, Self>, ApiError> {
        Ok(Box::new(|_| true))
    }

    fn references(&self, _wanted: &mut Wanted) {}

    fn set_names(&mut self, _names: &Names) {}
}

impl Resource for Programme {
    const FILTERS: &'static [&'static str] = filters!["schoolType", "code", "parentProgramme"];
    const EXPANDS: &'static [&'static str] = &[];

    fn predicate<'a>(
        params: Params<'_>,
        _data: &'a SourceData,
    ) -> Result<Predicate<'a, Self>, ApiError> {
        let school_types: Vec<Ss12000SchoolType> = params.codes("schoolType")?;
        let code = params.one("code").map(str::to_string);
        // Stored programmes carry no parent programme, so that filter matches none.
        let parent = params.one("parentProgramme").is_some();
        Ok(Box::new(move |p: &Programme| {
            (school_types.is_empty()
                || p.school_type
                    .as_ref()
                    .and_then(SourceSchoolType::known)
                    .is_some_and(|t| school_types.contains(&t)))
                && code.as_ref().is_none_or(|c| p.code.as_ref() == Some(c))
                && !parent
        }))
    }

    fn references(&self, _wanted: &mut Wanted) {}

    fn set_names(&mut self, _names: &Names) {}
}
