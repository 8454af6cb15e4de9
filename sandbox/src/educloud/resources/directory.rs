//! The [`Resource`] implementations of the directory: organisations,
//! persons and duties.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde_json::{Map, Value, json};
use skolsync_model::codes::{OrganisationType, Ss12000SchoolType};
use skolsync_model::ss12000::{Duty, EntityKind, Organisation, Person};

use super::{
    Embeds, LookupBody, LookupContext, Names, Predicate, Resource, Wanted, by_id, filters, subtree,
    to_json,
};
use crate::educloud::ApiError;
use crate::educloud::query::Params;
use crate::world::SourceData;

impl Resource for Organisation {
    const FILTERS: &'static [&'static str] = filters!["parent", "schoolUnitCode", "organisationCode", "municipalityCode", "type", "schoolTypes"; dated];
    const EXPANDS: &'static [&'static str] = &[];

    fn predicate<'a>(
        params: Params<'_>,
        _data: &'a SourceData,
    ) -> Result<Predicate<'a, Self>, ApiError> {
        let parents: HashSet<String> = params.set("parent");
        let unit_codes: HashSet<String> = params.set("schoolUnitCode");
        let org_codes: HashSet<String> = params.set("organisationCode");
        let municipality = params.one("municipalityCode").map(str::to_string);
        let types: Vec<OrganisationType> = params.codes("type")?;
        let school_types: Vec<Ss12000SchoolType> = params.codes("schoolTypes")?;
        let dates = params.date_range("")?;
        Ok(Box::new(move |o: &Organisation| {
            (parents.is_empty()
                || o.parent_organisation
                    .as_ref()
                    .is_some_and(|p| parents.contains(p.id.as_str())))
                && (unit_codes.is_empty()
                    || o.school_unit_code
                        .as_ref()
                        .is_some_and(|c| unit_codes.contains(c)))
                && (org_codes.is_empty()
                    || o.organisation_code
                        .as_ref()
                        .is_some_and(|c| org_codes.contains(c)))
                && municipality
                    .as_ref()
                    .is_none_or(|m| o.municipality_code.as_ref() == Some(m))
                && (types.is_empty() || types.contains(&o.organisation_type))
                && (school_types.is_empty()
                    || o.school_types
                        .iter()
                        .any(|t| t.known().is_some_and(|k| school_types.contains(&k))))
                && dates.matches(o.start_date, o.end_date)
        }))
    }

    fn looked_up(&self, body: &LookupBody, _ctx: &LookupContext) -> bool {
        body.ids.iter().any(|id| id == self.id.as_str())
            || self
                .school_unit_code
                .as_ref()
                .is_some_and(|c| body.school_unit_codes.contains(c))
            || self
                .organisation_code
                .as_ref()
                .is_some_and(|c| body.organisation_codes.contains(c))
    }

    fn references(&self, wanted: &mut Wanted) {
        wanted.add_opt(EntityKind::Organisation, self.parent_organisation.as_ref());
    }

    fn set_names(&mut self, names: &Names) {
        names.set_opt(EntityKind::Organisation, self.parent_organisation.as_mut());
    }
}

const RELATION_TYPES: [&str; 6] = [
    "enrolment",
    "duty",
    "placement.child",
    "placement.owner",
    "responsibleFor.enrolment",
    "responsibleFor.placement",
];

impl Resource for Person {
    const FILTERS: &'static [&'static str] = filters!["nameContains", "civicNo", "eduPersonPrincipalName", "identifier.value", "identifier.context", "relationship.entity.type", "relationship.organisation"; dated "relationship."];
    const EXPANDS: &'static [&'static str] = &[
        "duties",
        "responsibleFor",
        "placements",
        "ownedPlacements",
        "groupMemberships",
    ];

    fn predicate<'a>(
        params: Params<'_>,
        data: &'a SourceData,
    ) -> Result<Predicate<'a, Self>, ApiError> {
        let name_parts: Vec<String> = params
            .many("nameContains")
            .into_iter()
            .map(str::to_lowercase)
            .collect();
        let civic_no = params.one("civicNo").map(str::to_string);
        let eppn = params.one("eduPersonPrincipalName").map(str::to_string);
        let identifier_value = params.one("identifier.value").map(str::to_string);
        let identifier_context = params.one("identifier.context").map(str::to_string);
        let relation = params.one("relationship.entity.type");
        if let Some(r) = relation
            && !RELATION_TYPES.contains(&r)
        {
            return Err(ApiError::InvalidFilter(format!(
                "`relationship.entity.type`: unknown value `{r}`"
            )));
        }
        let relation = relation.map(str::to_string);
        let organisation = params.one("relationship.organisation").map(str::to_string);
        let range = params.date_range("relationship.")?;
        let relation_filter = relation.is_some() || organisation.is_some() || !range.is_empty();
        // Persons holding a duty that satisfies the relationship filter.
        let duty_holders: HashSet<String> =
            if relation_filter && relation.as_deref().is_none_or(|r| r == "duty") {
                data.duties
                    .iter()
                    .filter(|d| {
                        organisation
                            .as_ref()
                            .is_none_or(|o| d.duty_at.id.as_str() == o)
                    })
                    .filter(|d| range.matches(d.start_date, d.end_date))
                    .filter_map(|d| d.person.as_ref().map(|p| p.id.as_str().to_string()))
                    .collect()
            } else {
                HashSet::new()
            };
        Ok(Box::new(move |p: &Person| {
            let enrolled = || {
                p.enrolments.iter().any(|e| {
                    organisation
                        .as_ref()
                        .is_none_or(|o| e.enroled_at.id.as_str() == o)
                        && range.matches(e.start_date, e.end_date)
                })
            };
            let related = !relation_filter
                || match relation.as_deref() {
                    Some("enrolment") => enrolled(),
                    Some("duty") => duty_holders.contains(p.id.as_str()),
                    // The sandbox's sources hold no placements or guardians.
                    Some(_) => false,
                    None => enrolled() || duty_holders.contains(p.id.as_str()),
                };
            let names = [
                p.given_name.to_lowercase(),
                p.middle_name.clone().unwrap_or_default().to_lowercase(),
                p.family_name.to_lowercase(),
            ];
            related
                && name_parts
                    .iter()
                    .all(|part| names.iter().any(|n| n.contains(part.as_str())))
                && civic_no
                    .as_ref()
                    .is_none_or(|c| p.civic_no.as_ref().is_some_and(|pc| &pc.value == c))
                && eppn
                    .as_ref()
                    .is_none_or(|e| p.edu_person_principal_names.contains(e))
                && (identifier_value.is_none() && identifier_context.is_none()
                    || p.external_identifiers.iter().any(|x| {
                        identifier_value.as_ref().is_none_or(|v| &x.value == v)
                            && identifier_context.as_ref().is_none_or(|c| &x.context == c)
                    }))
        }))
    }

    fn looked_up(&self, body: &LookupBody, _ctx: &LookupContext) -> bool {
        body.ids.iter().any(|id| id == self.id.as_str())
            || self
                .civic_no
                .as_ref()
                .is_some_and(|c| body.civic_nos.contains(&c.value))
    }

    fn references(&self, wanted: &mut Wanted) {
        for e in &self.enrolments {
            wanted.add(EntityKind::Organisation, &e.enroled_at);
            wanted.add_opt(EntityKind::Programme, e.programme.as_ref());
        }
    }

    fn set_names(&mut self, names: &Names) {
        for e in &mut self.enrolments {
            names.set(EntityKind::Organisation, &mut e.enroled_at);
            names.set_opt(EntityKind::Programme, e.programme.as_mut());
        }
    }

    fn embed(page: &[&Self], data: &SourceData, expand: &BTreeSet<String>) -> Embeds {
        let mut embeds = Embeds::new();
        if expand.is_empty() {
            return embeds;
        }
        let ids: HashSet<&str> = page.iter().map(|p| p.id.as_str()).collect();
        let mut duties: HashMap<&str, Vec<Value>> = HashMap::new();
        if expand.contains("duties") {
            for d in &data.duties {
                if let Some(person) = d.person.as_ref().filter(|p| ids.contains(p.id.as_str())) {
                    duties
                        .entry(person.id.as_str())
                        .or_default()
                        .push(to_json(d));
                }
            }
        }
        let mut memberships: HashMap<&str, Vec<Value>> = HashMap::new();
        if expand.contains("groupMemberships") {
            for g in &data.groups {
                for m in g
                    .group_memberships
                    .iter()
                    .filter(|m| ids.contains(m.person.id.as_str()))
                {
                    let mut fragment = to_json(g);
                    if let Value::Object(map) = &mut fragment {
                        map.remove("groupMemberships");
                    }
                    let mut entry = json!({ "group": fragment });
                    if let Some(start) = m.start_date {
                        entry["startDate"] = json!(start);
                    }
                    if let Some(end) = m.end_date {
                        entry["endDate"] = json!(end);
                    }
                    memberships
                        .entry(m.person.id.as_str())
                        .or_default()
                        .push(entry);
                }
            }
        }
        for p in page {
            let mut map = Map::new();
            for key in expand {
                let list = match key.as_str() {
                    "duties" => duties.remove(p.id.as_str()).unwrap_or_default(),
                    "groupMemberships" => memberships.remove(p.id.as_str()).unwrap_or_default(),
                    // Guardians and placements are not part of the sandbox's sources.
                    _ => Vec::new(),
                };
                map.insert(key.clone(), Value::Array(list));
            }
            embeds.insert(p.id.as_str().to_string(), map);
        }
        embeds
    }
}

impl Resource for Duty {
    const FILTERS: &'static [&'static str] = filters!["organisation", "dutyRole", "person"; dated];
    const EXPANDS: &'static [&'static str] = &["person"];

    fn predicate<'a>(
        params: Params<'_>,
        data: &'a SourceData,
    ) -> Result<Predicate<'a, Self>, ApiError> {
        let organisations = params.one("organisation").map(|o| subtree(data, o));
        let role = params.one("dutyRole").map(str::to_string);
        let person = params.one("person").map(str::to_string);
        let dates = params.date_range("")?;
        Ok(Box::new(move |d: &Duty| {
            organisations
                .as_ref()
                .is_none_or(|o| o.contains(d.duty_at.id.as_str()))
                && role.as_ref().is_none_or(|r| &d.duty_role == r)
                && person
                    .as_ref()
                    .is_none_or(|p| d.person.as_ref().is_some_and(|dp| dp.id.as_str() == p))
                && dates.matches(d.start_date, d.end_date)
        }))
    }

    fn references(&self, wanted: &mut Wanted) {
        wanted.add_opt(EntityKind::Person, self.person.as_ref());
        wanted.add(EntityKind::Organisation, &self.duty_at);
    }

    fn set_names(&mut self, names: &Names) {
        names.set_opt(EntityKind::Person, self.person.as_mut());
        names.set(EntityKind::Organisation, &mut self.duty_at);
    }

    fn embed(page: &[&Self], data: &SourceData, expand: &BTreeSet<String>) -> Embeds {
        let mut embeds = Embeds::new();
        if !expand.contains("person") {
            return embeds;
        }
        let wanted: HashSet<&str> = page
            .iter()
            .filter_map(|d| d.person.as_ref().map(|p| p.id.as_str()))
            .collect();
        let persons = by_id(&data.persons, &wanted, true);
        for d in page {
            let mut map = Map::new();
            if let Some(person) = d.person.as_ref().and_then(|p| persons.get(p.id.as_str())) {
                map.insert("person".to_string(), to_json(person));
            }
            embeds.insert(d.id.as_str().to_string(), map);
        }
        embeds
    }
}
