//! Test support: a plan made from a sandbox municipality, the sink's
//! settings for a running sandbox, and checks on what the sandbox received.
//!
//! The mapping here is deliberately the straightforward one (the real one is
//! the transform's, which a stage's tests may not use): only what valid,
//! clean (dirt 0) generated data needs to become provtjänst payloads.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use skolsync_model::ids::{SchoolUnitCode, TestActivityName};
use skolsync_model::plan::{Desired, Outcome, OutcomeStatus, Plan, TypePlan, content_hash};
use skolsync_model::provtjanst::{
    self, CivicNoValue, DutyAssignment, GroupMembership, ObjectReference, Payload,
};
use skolsync_model::ss12000::{self, SourceId};
use skolsync_model::{
    ActivityType, DutyRole, GroupType, ObjectType, SchoolType, Ss12000SchoolType,
};
use skolsync_sandbox::generate::REFERENCE_DATE;
use skolsync_sandbox::provisioning::{RateClass, RequestRecord, Store};
use skolsync_sandbox::{Catalogue, Sandbox, SandboxConfig, SourceData};
use skolsync_sink::skolverket::config::SkolverketConfig;
use skolsync_sink::{Sink, SinkConfig, SinkStop, build};
use uuid::Uuid;

fn uuid_of(id: &SourceId) -> Uuid {
    Uuid::parse_str(id.as_str())
        .unwrap_or_else(|_| Uuid::new_v5(&Uuid::NAMESPACE_OID, id.as_str().as_bytes()))
}

fn current(end: Option<chrono::NaiveDate>) -> bool {
    end.is_none_or(|d| d >= REFERENCE_DATE)
}

fn school_type(s: Ss12000SchoolType) -> Option<SchoolType> {
    match s {
        Ss12000SchoolType::Gr => Some(SchoolType::Gr),
        Ss12000SchoolType::Sp => Some(SchoolType::Sp),
        Ss12000SchoolType::Sam => Some(SchoolType::Sam),
        Ss12000SchoolType::Gy => Some(SchoolType::Gy),
        _ => None,
    }
}

fn desired<T: serde::Serialize>(
    id: Uuid,
    source: &SourceId,
    unit: Option<&str>,
    payload: T,
) -> Desired<T> {
    Desired {
        id,
        source_id: source.as_str().to_string(),
        hash: content_hash(&payload),
        school_unit: unit.map(str::to_string),
        payload,
    }
}

/// Source organisation id → (Skolverket id, school unit code).
type Units = HashMap<SourceId, (Uuid, String)>;
/// A pupil's enrolments by source person id.
type Students = HashMap<SourceId, Vec<provtjanst::Enrolment>>;

/// Persons: staff with a duty, pupils with an enrolment in scope; and the
/// pupils' enrolments by source id.
fn persons(
    source: &SourceData,
    units: &Units,
    programme_codes: &HashMap<SourceId, String>,
    staff: &HashSet<SourceId>,
) -> (Vec<Desired<provtjanst::Person>>, Students) {
    let mut persons = Vec::new();
    let mut students: Students = HashMap::new();
    for p in &source.persons {
        let Some(Ok(civic)) = p.civic_no.as_ref().map(|c| c.parse()) else {
            continue;
        };
        let is_staff = staff.contains(&p.id);
        let mut enrolments = Vec::new();
        let mut unit_code = None;
        if !is_staff {
            for e in &p.enrolments {
                let (Some(st), Some((unit, code))) = (
                    e.school_type.known().and_then(school_type),
                    units.get(&e.enroled_at.id),
                ) else {
                    continue;
                };
                if !current(e.end_date) || e.cancelled == Some(true) {
                    continue;
                }
                let education_code = if st == SchoolType::Gy {
                    e.education_code.clone().or_else(|| {
                        e.programme
                            .as_ref()
                            .and_then(|r| programme_codes.get(&r.id).cloned())
                    })
                } else {
                    None
                };
                unit_code = Some(code.clone());
                enrolments.push(provtjanst::Enrolment {
                    enroled_at: ObjectReference::new(*unit),
                    school_year: st.requires_school_year().then_some(e.school_year).flatten(),
                    school_type: st,
                    cancelled: None,
                    education_code,
                });
            }
            if enrolments.is_empty() {
                continue;
            }
            students.insert(p.id.clone(), enrolments.clone());
        }
        let id = uuid_of(&p.id);
        let emails = p
            .emails
            .iter()
            .filter(|e| !e.value.trim().is_empty())
            .map(|e| provtjanst::Email {
                value: e.value.clone(),
                email_type: e.email_type,
            })
            .collect();
        let external_identifiers = if is_staff {
            p.external_identifiers
                .iter()
                .filter(|x| x.context == "https://eduid.se")
                .take(1)
                .map(|x| provtjanst::ExternalIdentifier {
                    value: x.value.clone(),
                    context: x.context.clone(),
                    globally_unique: x.globally_unique,
                })
                .collect()
        } else {
            Vec::new()
        };
        persons.push(desired(
            id,
            &p.id,
            unit_code.as_deref(),
            provtjanst::Person {
                id,
                meta: None,
                given_name: p.given_name.clone(),
                middle_name: p.middle_name.clone(),
                family_name: p.family_name.clone(),
                edu_person_principal_names: p
                    .edu_person_principal_names
                    .iter()
                    .take(1)
                    .cloned()
                    .collect(),
                external_identifiers,
                security_marking: p.security_marking,
                civic_no: CivicNoValue::swedish(civic.as_str()),
                emails,
                enrolments,
                provisioning_status: None,
            },
        ));
    }
    (persons, students)
}

/// Classes, and the teaching groups of a tested activity, with their
/// pupils as members.
fn groups(
    source: &SourceData,
    units: &Units,
    students: &Students,
    tested_groups: &HashSet<SourceId>,
) -> (Vec<Desired<provtjanst::Group>>, HashSet<Uuid>) {
    let mut groups = Vec::new();
    let mut group_ids = HashSet::new();
    for g in &source.groups {
        let keep = match g.group_type {
            GroupType::Klass => true,
            GroupType::Undervisning => tested_groups.contains(&g.id),
            _ => false,
        };
        let (Some(st), Some((unit, code))) = (
            g.school_type
                .as_ref()
                .and_then(|t| t.known())
                .and_then(school_type),
            units.get(&g.organisation.id),
        ) else {
            continue;
        };
        if !keep || !current(g.end_date) {
            continue;
        }
        let mut members: Vec<GroupMembership> = g
            .group_memberships
            .iter()
            .filter(|m| current(m.end_date) && students.contains_key(&m.person.id))
            .map(|m| GroupMembership {
                person: ObjectReference::new(uuid_of(&m.person.id)),
            })
            .collect();
        members.sort_by_key(|m| m.person.id);
        members.dedup();
        let id = uuid_of(&g.id);
        group_ids.insert(id);
        groups.push(desired(
            id,
            &g.id,
            Some(code),
            provtjanst::Group {
                id,
                meta: None,
                display_name: g.display_name.clone(),
                group_type: g.group_type,
                school_type: st,
                organisation: ObjectReference::new(*unit),
                provisioning_status: None,
                group_memberships: members,
            },
        ));
    }
    (groups, group_ids)
}

/// The tested activities with the groups and duties that made it.
fn activities(
    activity_plans: Vec<(&ss12000::Activity, Uuid, String, Uuid)>,
    group_ids: &HashSet<Uuid>,
    duty_ids: &HashSet<Uuid>,
) -> Vec<Desired<provtjanst::Activity>> {
    let mut activities = Vec::new();
    for (a, unit, code, test) in activity_plans {
        let mut groups: Vec<ObjectReference> = a
            .groups
            .iter()
            .map(|g| ObjectReference::new(uuid_of(&g.id)))
            .filter(|g| group_ids.contains(&g.id))
            .collect();
        groups.sort();
        if groups.is_empty() {
            continue;
        }
        let mut teachers: Vec<DutyAssignment> = a
            .teachers
            .iter()
            .filter_map(|t| t.duty.as_ref())
            .map(|d| uuid_of(&d.id))
            .filter(|d| duty_ids.contains(d))
            .map(|d| DutyAssignment {
                duty: ObjectReference::new(d),
            })
            .collect();
        teachers.sort_by_key(|t| t.duty.id);
        let id = uuid_of(&a.id);
        activities.push(desired(
            id,
            &a.id,
            Some(&code),
            provtjanst::Activity {
                id,
                meta: None,
                display_name: a.display_name.clone(),
                activity_type: ActivityType::Undervisning,
                groups,
                teachers,
                organisation: ObjectReference::new(unit),
                parent_activity: ObjectReference::new(test),
                provisioning_status: None,
            },
        ));
    }
    activities
}

/// The desired provtjänst state of a generated municipality, as a plan that
/// creates all of it.
pub fn plan_from(catalogue: &Catalogue, source: &SourceData) -> Plan {
    let known_units: HashSet<Uuid> = catalogue.school_units.iter().map(|u| u.id).collect();
    let known_tests: HashSet<Uuid> = catalogue.test_activities.iter().map(|a| a.id).collect();
    // Source organisation id → (Skolverket id, school unit code).
    let units: Units = source
        .organisations
        .iter()
        .filter_map(|o| {
            let code = o.school_unit_code.as_deref()?;
            let id = SchoolUnitCode::new(code).skolverket_id();
            known_units
                .contains(&id)
                .then(|| (o.id.clone(), (id, code.to_string())))
        })
        .collect();
    let programme_codes: HashMap<SourceId, String> = source
        .programmes
        .iter()
        .filter_map(|p| Some((p.id.clone(), p.code.clone()?)))
        .collect();

    // Duties.
    let mut duties = Vec::new();
    let mut duty_ids = HashSet::new();
    let mut staff = HashSet::new();
    for d in &source.duties {
        let (Some(person), Some((unit, code))) = (&d.person, units.get(&d.duty_at.id)) else {
            continue;
        };
        let Ok(role) = d.duty_role.parse::<DutyRole>() else {
            continue;
        };
        if !current(d.end_date) {
            continue;
        }
        let id = uuid_of(&d.id);
        duty_ids.insert(id);
        staff.insert(person.id.clone());
        duties.push(desired(
            id,
            &d.id,
            Some(code),
            provtjanst::Duty {
                id,
                meta: None,
                person: ObjectReference::new(uuid_of(&person.id)),
                duty_at: ObjectReference::new(*unit),
                duty_role: role,
                provisioning_status: None,
            },
        ));
    }

    let (persons, students) = persons(source, &units, &programme_codes, &staff);

    // Activities tied to a national test, and the groups they teach.
    let syllabuses: HashMap<&SourceId, &ss12000::Syllabus> =
        source.syllabuses.iter().map(|s| (&s.id, s)).collect();
    let groups_by_id: HashMap<&SourceId, &ss12000::Group> =
        source.groups.iter().map(|g| (&g.id, g)).collect();
    let member_year = |g: &ss12000::Group| -> Option<u8> {
        let mut years: BTreeMap<u8, usize> = BTreeMap::new();
        for m in &g.group_memberships {
            for e in students.get(&m.person.id).into_iter().flatten() {
                if let Some(y) = e.school_year {
                    *years.entry(y).or_default() += 1;
                }
            }
        }
        years.into_iter().max_by_key(|(_, n)| *n).map(|(y, _)| y)
    };
    let mut tested_groups: HashSet<SourceId> = HashSet::new();
    let mut activity_plans = Vec::new();
    for a in &source.activities {
        if a.activity_type != Some(ActivityType::Undervisning) || !current(a.end_date) {
            continue;
        }
        let Some((unit, code)) = units.get(&a.organisation.id) else {
            continue;
        };
        let explicit = a
            .parent_activity
            .first()
            .and_then(|r| Uuid::parse_str(r.id.as_str()).ok());
        let derived = || {
            let syllabus = syllabuses.get(a.syllabus.as_ref().map(|r| &r.id)?)?;
            let name = match (&syllabus.course_code, &syllabus.subject_code) {
                (Some(course), _) => TestActivityName::for_course(course),
                (None, Some(subject)) => {
                    let group = groups_by_id.get(&a.groups.first()?.id)?;
                    TestActivityName::for_subject_and_year(subject, member_year(group)?)
                }
                _ => return None,
            };
            Some(name.skolverket_id())
        };
        let Some(test) = explicit
            .or_else(derived)
            .filter(|t| known_tests.contains(t))
        else {
            continue;
        };
        for g in &a.groups {
            tested_groups.insert(g.id.clone());
        }
        activity_plans.push((a, *unit, code.clone(), test));
    }

    let (groups, group_ids) = groups(source, &units, &students, &tested_groups);

    let activities = activities(activity_plans, &group_ids, &duty_ids);

    fn creates<T>(create: Vec<Desired<T>>) -> TypePlan<T> {
        TypePlan {
            create,
            ..TypePlan::default()
        }
    }
    Plan {
        persons: creates(persons),
        duties: creates(duties),
        groups: creates(groups),
        activities: creates(activities),
        ..Plan::default()
    }
}

/// The plan of what a running sandbox's school system holds.
pub fn plan_for(sandbox: &Sandbox) -> Plan {
    let world = sandbox.world();
    let source = world.source.read().unwrap_or_else(|e| e.into_inner());
    plan_from(&world.catalogue, &source)
}

/// A running sandbox.
pub async fn start(config: SandboxConfig) -> Sandbox {
    Sandbox::start(config).await.expect("sandbox starts")
}

/// The `skolverket` sink `config` describes.
pub async fn sink(config: SkolverketConfig) -> Box<dyn Sink> {
    build(
        &SinkConfig::Skolverket(config),
        &skolsync_model::BuildContext::new("/"),
        skolsync_sink::SinkStores::default(),
    )
    .await
    .expect("sink builds")
}

/// The `skolverket` sink's settings for a running sandbox (certificate
/// flow: `cert#S256` computed by the sink).
pub fn sink_config(sandbox: &Sandbox) -> SkolverketConfig {
    let e = sandbox.endpoints();
    SkolverketConfig {
        auth_url: Some(e.auth_url.clone()),
        provisioning_url: Some(e.provisioning_url.clone()),
        open_data_url: Some(e.open_data_url.clone()),
        client_cert: Some(e.client_cert.clone().into()),
        client_key: Some(e.client_key.clone().into()),
        ca_cert: Some(e.ca_cert.clone().into()),
        ..SkolverketConfig::default()
    }
}

/// Collects the outcomes a sink reports.
#[derive(Debug, Clone, Default)]
pub struct Collected(Arc<Mutex<Vec<Outcome>>>);

impl Collected {
    pub fn callback(&self) -> impl Fn(Outcome) -> Result<(), SinkStop> + Send + Sync + use<> {
        let inner = Arc::clone(&self.0);
        move |o| {
            inner.lock().unwrap().push(o);
            Ok(())
        }
    }

    pub fn all(&self) -> Vec<Outcome> {
        self.0.lock().unwrap().clone()
    }

    pub fn by_id(&self) -> HashMap<Uuid, Outcome> {
        self.all().into_iter().map(|o| (o.id, o)).collect()
    }

    pub fn with_status(&self, status: OutcomeStatus) -> Vec<Outcome> {
        self.all()
            .into_iter()
            .filter(|o| o.status == status)
            .collect()
    }
}

/// Entities in the plan: creates, updates and deletes.
pub fn total(plan: &Plan) -> usize {
    fn n<T>(t: &TypePlan<T>) -> usize {
        t.create.len() + t.update.len() + t.delete.len()
    }
    n(&plan.persons) + n(&plan.duties) + n(&plan.groups) + n(&plan.activities)
}

/// Every entity of the plan got exactly one outcome.
pub fn assert_one_outcome_each(plan: &Plan, outcomes: &[Outcome]) {
    assert_eq!(
        outcomes.len(),
        total(plan),
        "one outcome per entity of the plan"
    );
    let ids: HashSet<(ObjectType, Uuid)> = outcomes.iter().map(|o| (o.kind, o.id)).collect();
    assert_eq!(ids.len(), outcomes.len(), "no entity has two outcomes");
}

fn check_type<T: Payload>(store_items: Vec<T>, plan: &TypePlan<T>) {
    let mut stored: HashMap<Uuid, T> = store_items
        .into_iter()
        .map(|mut t| {
            t.clear_read_only();
            (t.id(), t)
        })
        .collect();
    for d in plan.create.iter().chain(&plan.update) {
        let Some(s) = stored.remove(&d.id) else {
            panic!("{} {} is not in the service", T::KIND, d.id);
        };
        assert_eq!(s, d.payload, "{} {} differs from the plan", T::KIND, d.id);
    }
    assert!(
        stored.is_empty(),
        "the service holds {} {} not in the plan",
        stored.len(),
        T::KIND
    );
}

/// What the sandbox stores equals the plan, payload for payload.
pub fn assert_store_equals_plan(store: &Store, plan: &Plan) {
    check_type(store.persons(), &plan.persons);
    check_type(store.duties(), &plan.duties);
    check_type(store.groups(), &plan.groups);
    check_type(store.activities(), &plan.activities);
}

/// No second of the request log holds more than `limit` calls of `class`
/// (whatever their answer, whichever token they carried), and no body is
/// over `max_body`.
pub fn assert_within_limits(
    requests: &[RequestRecord],
    class: RateClass,
    limit: usize,
    max_body: usize,
) {
    let mut times: Vec<_> = requests
        .iter()
        .filter(|r| r.class == class)
        .map(|r| r.at)
        .collect();
    times.sort();
    for (i, start) in times.iter().enumerate() {
        let in_window = times[i..]
            .iter()
            .take_while(|t| t.duration_since(*start) < Duration::from_secs(1))
            .count();
        assert!(
            in_window <= limit,
            "{in_window} {class:?} calls within one second (limit {limit})"
        );
    }
    for r in requests {
        assert!(
            r.body_bytes <= max_body,
            "{} {} had a {}-byte body (limit {max_body})",
            r.method,
            r.path,
            r.body_bytes
        );
    }
}

/// Bulk calls (create/update/delete) that the service accepted.
pub fn bulk_calls(requests: &[RequestRecord]) -> Vec<&RequestRecord> {
    requests
        .iter()
        .filter(|r| {
            (r.method == "POST" || r.method == "PUT")
                && (r.path.ends_with("/bulk") || r.path.ends_with("/bulk/delete"))
        })
        .collect()
}

/// Writes a PKCS#12 file of the sandbox's client certificate and key.
pub fn write_pkcs12(sandbox: &Sandbox, path: &Path, password: &str) {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let pki = sandbox.pki();
    let cert = CertificateDer::from_pem_slice(pki.client_cert_pem().as_bytes()).unwrap();
    let key = PrivateKeyDer::from_pem_slice(pki.client_key_pem().as_bytes()).unwrap();
    let chain = p12_keystore::PrivateKeyChain::new(
        "skolsync-test",
        p12_keystore::PrivateKey::from_der(key.secret_der()).unwrap(),
        [p12_keystore::Certificate::from_der(cert.as_ref()).unwrap()],
    );
    let mut store = p12_keystore::KeyStore::new();
    store.add_entry(
        "client",
        p12_keystore::KeyStoreEntry::PrivateKeyChain(chain),
    );
    let data = store.writer(password).write().unwrap();
    std::fs::write(path, data).unwrap();
}
