//! What each SS 12000 resource adds to the shared list machinery: the filters
//! its endpoint takes, the references whose names `expandReferenceNames`
//! fills in, what `expand` embeds, and the lookup body it answers.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde::Deserialize;
use serde_json::{Map, Value, json};
use skolsync_model::codes::{GroupType, OrganisationType, Ss12000SchoolType};
use skolsync_model::ss12000::{
    Activity, Duty, EntityKind, Group, Organisation, Person, Programme, Reference, Syllabus,
};
use uuid::Uuid;

use super::ApiError;
use super::query::Params;
use crate::world::{Catalogue, SourceData, StoredEntity};

/// A filter over one resource's entities.
pub(crate) type Predicate<'a, T> = Box<dyn Fn(&T) -> bool + Send + 'a>;

/// The `_embedded` object of each entity of a page, by entity id.
pub(crate) type Embeds = HashMap<String, Map<String, Value>>;

/// The body of `POST /{resource}/lookup`: the union of every list given.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LookupBody {
    #[serde(default)]
    pub ids: Vec<String>,
    #[serde(default)]
    pub school_unit_codes: Vec<String>,
    #[serde(default)]
    pub organisation_codes: Vec<String>,
    #[serde(default)]
    pub civic_nos: Vec<String>,
    #[serde(default)]
    pub teachers: Vec<String>,
    #[serde(default)]
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

fn unsupported_sortkey(params: Params<'_>) -> Result<(), ApiError> {
    match params.one("sortkey") {
        Some(key) => Err(ApiError::InvalidFilter(format!(
            "sortkey `{key}` is not supported by this server; lists come in a stable order"
        ))),
        None => Ok(()),
    }
}

// ---------------------------------------------------------------------------
// Reference names.

/// Ids whose display names a page needs, per kind.
#[derive(Debug, Default)]
pub(crate) struct Wanted {
    ids: HashMap<EntityKind, HashSet<String>>,
}

impl Wanted {
    fn add(&mut self, kind: EntityKind, reference: &Reference) {
        self.ids
            .entry(kind)
            .or_default()
            .insert(reference.id.as_str().to_string());
    }

    fn add_opt(&mut self, kind: EntityKind, reference: Option<&Reference>) {
        if let Some(r) = reference {
            self.add(kind, r);
        }
    }
}

/// Display names of referenced entities.
#[derive(Debug, Default)]
pub(crate) struct Names {
    names: HashMap<EntityKind, HashMap<String, String>>,
}

impl Names {
    /// Looks up the names `wanted` asks for, scanning each needed list once.
    pub(crate) fn resolve(data: &SourceData, catalogue: &Catalogue, mut wanted: Wanted) -> Names {
        let mut names = Names::default();
        // A duty is named after its holder, so duties are resolved first and
        // add their persons to what is wanted.
        let mut duty_person: HashMap<String, String> = HashMap::new();
        if let Some(ids) = wanted.ids.remove(&EntityKind::Duty) {
            for duty in data.duties.iter().filter(|d| ids.contains(d.id.as_str())) {
                if let Some(person) = &duty.person {
                    duty_person
                        .insert(duty.id.as_str().to_string(), person.id.as_str().to_string());
                    wanted.add(EntityKind::Person, person);
                }
            }
        }
        for (kind, ids) in &wanted.ids {
            let found = names.names.entry(*kind).or_default();
            let mut note = |id: &str, name: String| {
                if ids.contains(id) {
                    found.insert(id.to_string(), name);
                }
            };
            match kind {
                EntityKind::Organisation => {
                    for o in &data.organisations {
                        note(o.id.as_str(), o.display_name.clone());
                    }
                }
                EntityKind::Person => {
                    for p in &data.persons {
                        if ids.contains(p.id.as_str()) {
                            note(p.id.as_str(), person_name(p));
                        }
                    }
                }
                EntityKind::Group => {
                    for g in &data.groups {
                        note(g.id.as_str(), g.display_name.clone());
                    }
                }
                EntityKind::Activity => {
                    // Parent activities are mostly Skolverket's test activities.
                    for a in &catalogue.test_activities {
                        note(&a.id.to_string(), a.display_name.clone());
                    }
                    for a in &data.activities {
                        note(a.id.as_str(), a.display_name.clone());
                    }
                }
                EntityKind::Syllabus => {
                    for s in &data.syllabuses {
                        if let Some(name) = syllabus_name(s) {
                            note(s.id.as_str(), name);
                        }
                    }
                }
                EntityKind::Programme => {
                    for p in &data.programmes {
                        note(p.id.as_str(), p.name.clone());
                    }
                }
                EntityKind::Duty => {}
            }
        }
        let persons = names
            .names
            .get(&EntityKind::Person)
            .cloned()
            .unwrap_or_default();
        let duties = names.names.entry(EntityKind::Duty).or_default();
        for (duty, person) in duty_person {
            if let Some(name) = persons.get(&person) {
                duties.insert(duty, name.clone());
            }
        }
        names
    }

    fn set(&self, kind: EntityKind, reference: &mut Reference) {
        if let Some(name) = self
            .names
            .get(&kind)
            .and_then(|m| m.get(reference.id.as_str()))
        {
            reference.display_name = Some(name.clone());
        }
    }

    fn set_opt(&self, kind: EntityKind, reference: Option<&mut Reference>) {
        if let Some(r) = reference {
            self.set(kind, r);
        }
    }
}

fn person_name(p: &Person) -> String {
    [
        Some(p.given_name.as_str()),
        p.middle_name.as_deref(),
        Some(p.family_name.as_str()),
    ]
    .into_iter()
    .flatten()
    .filter(|s| !s.is_empty())
    .collect::<Vec<_>>()
    .join(" ")
}

fn syllabus_name(s: &Syllabus) -> Option<String> {
    s.course_name
        .clone()
        .or_else(|| s.subject_name.clone())
        .or_else(|| s.course_code.clone())
        .or_else(|| s.subject_code.clone())
}

/// Serialises an entity embedded in another one; our own types always
/// serialise, so a failure only drops the embedded copy.
fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

// ---------------------------------------------------------------------------
// Organisations.

impl Resource for Organisation {
    const FILTERS: &'static [&'static str] = &[
        "parent",
        "schoolUnitCode",
        "organisationCode",
        "municipalityCode",
        "type",
        "schoolTypes",
        "startDate.onOrBefore",
        "startDate.onOrAfter",
        "endDate.onOrBefore",
        "endDate.onOrAfter",
        "sortkey",
    ];
    const EXPANDS: &'static [&'static str] = &[];

    fn predicate<'a>(
        params: Params<'_>,
        _data: &'a SourceData,
    ) -> Result<Predicate<'a, Self>, ApiError> {
        unsupported_sortkey(params)?;
        let parents: HashSet<String> = params
            .many("parent")
            .into_iter()
            .map(str::to_string)
            .collect();
        let unit_codes: HashSet<String> = params
            .many("schoolUnitCode")
            .into_iter()
            .map(str::to_string)
            .collect();
        let org_codes: HashSet<String> = params
            .many("organisationCode")
            .into_iter()
            .map(str::to_string)
            .collect();
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
                    || o.school_types.iter().any(|t| school_types.contains(t)))
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

// ---------------------------------------------------------------------------
// Persons.

const RELATION_TYPES: [&str; 6] = [
    "enrolment",
    "duty",
    "placement.child",
    "placement.owner",
    "responsibleFor.enrolment",
    "responsibleFor.placement",
];

impl Resource for Person {
    const FILTERS: &'static [&'static str] = &[
        "nameContains",
        "civicNo",
        "eduPersonPrincipalName",
        "identifier.value",
        "identifier.context",
        "relationship.entity.type",
        "relationship.organisation",
        "relationship.startDate.onOrBefore",
        "relationship.startDate.onOrAfter",
        "relationship.endDate.onOrBefore",
        "relationship.endDate.onOrAfter",
        "sortkey",
    ];
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
        unsupported_sortkey(params)?;
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

// ---------------------------------------------------------------------------
// Duties.

impl Resource for Duty {
    const FILTERS: &'static [&'static str] = &[
        "organisation",
        "dutyRole",
        "person",
        "startDate.onOrBefore",
        "startDate.onOrAfter",
        "endDate.onOrBefore",
        "endDate.onOrAfter",
        "sortkey",
    ];
    const EXPANDS: &'static [&'static str] = &["person"];

    fn predicate<'a>(
        params: Params<'_>,
        data: &'a SourceData,
    ) -> Result<Predicate<'a, Self>, ApiError> {
        unsupported_sortkey(params)?;
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
        let persons: HashMap<&str, &Person> = data
            .persons
            .iter()
            .filter(|p| wanted.contains(p.id.as_str()))
            .map(|p| (p.id.as_str(), p))
            .collect();
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

// ---------------------------------------------------------------------------
// Groups.

impl Resource for Group {
    const FILTERS: &'static [&'static str] = &[
        "groupType",
        "schoolTypes",
        "organisation",
        "startDate.onOrBefore",
        "startDate.onOrAfter",
        "endDate.onOrBefore",
        "endDate.onOrAfter",
        "sortkey",
    ];
    const EXPANDS: &'static [&'static str] = &["assignmentRoles"];

    fn predicate<'a>(
        params: Params<'_>,
        _data: &'a SourceData,
    ) -> Result<Predicate<'a, Self>, ApiError> {
        unsupported_sortkey(params)?;
        let types: Vec<GroupType> = params.codes("groupType")?;
        let school_types: Vec<Ss12000SchoolType> = params.codes("schoolTypes")?;
        let organisations: HashSet<String> = params
            .many("organisation")
            .into_iter()
            .map(str::to_string)
            .collect();
        let dates = params.date_range("")?;
        Ok(Box::new(move |g: &Group| {
            (types.is_empty() || types.contains(&g.group_type))
                && (school_types.is_empty()
                    || g.school_type.is_some_and(|t| school_types.contains(&t)))
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

// ---------------------------------------------------------------------------
// Activities.

impl Resource for Activity {
    const FILTERS: &'static [&'static str] =
        &["member", "teacher", "organisation", "group", "sortkey"];
    const EXPANDS: &'static [&'static str] = &["groups", "teachers", "syllabus"];
    const NEEDS_FINISH: bool = true;

    fn predicate<'a>(
        params: Params<'_>,
        data: &'a SourceData,
    ) -> Result<Predicate<'a, Self>, ApiError> {
        unsupported_sortkey(params)?;
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
        let groups: HashMap<&str, &Group> = if expand.contains("groups") {
            data.groups
                .iter()
                .filter(|g| wanted_groups.contains(g.id.as_str()))
                .map(|g| (g.id.as_str(), g))
                .collect()
        } else {
            HashMap::new()
        };
        let duties: HashMap<&str, &Duty> = if expand.contains("teachers") {
            data.duties
                .iter()
                .filter(|d| wanted_duties.contains(d.id.as_str()))
                .map(|d| (d.id.as_str(), d))
                .collect()
        } else {
            HashMap::new()
        };
        let syllabuses: HashMap<&str, &Syllabus> = if expand.contains("syllabus") {
            data.syllabuses
                .iter()
                .filter(|s| wanted_syllabuses.contains(s.id.as_str()))
                .map(|s| (s.id.as_str(), s))
                .collect()
        } else {
            HashMap::new()
        };
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

// ---------------------------------------------------------------------------
// Syllabuses and programmes.

impl Resource for Syllabus {
    const FILTERS: &'static [&'static str] = &["sortkey"];
    const EXPANDS: &'static [&'static str] = &[];

    fn predicate<'a>(
        params: Params<'_>,
        _data: &'a SourceData,
    ) -> Result<Predicate<'a, Self>, ApiError> {
        unsupported_sortkey(params)?;
        Ok(Box::new(|_| true))
    }

    fn references(&self, _wanted: &mut Wanted) {}

    fn set_names(&mut self, _names: &Names) {}
}

impl Resource for Programme {
    const FILTERS: &'static [&'static str] = &["schoolType", "code", "parentProgramme", "sortkey"];
    const EXPANDS: &'static [&'static str] = &[];

    fn predicate<'a>(
        params: Params<'_>,
        _data: &'a SourceData,
    ) -> Result<Predicate<'a, Self>, ApiError> {
        unsupported_sortkey(params)?;
        let school_types: Vec<Ss12000SchoolType> = params.codes("schoolType")?;
        let code = params.one("code").map(str::to_string);
        // Stored programmes carry no parent programme, so that filter matches none.
        let parent = params.one("parentProgramme").is_some();
        Ok(Box::new(move |p: &Programme| {
            (school_types.is_empty() || p.school_type.is_some_and(|t| school_types.contains(&t)))
                && code.as_ref().is_none_or(|c| p.code.as_ref() == Some(c))
                && !parent
        }))
    }

    fn references(&self, _wanted: &mut Wanted) {}

    fn set_names(&mut self, _names: &Names) {}
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
