//! The one-pass builder behind [`super::generate`].
//!
//! Units are planned first (how many pupils of each cohort go where), then
//! each unit is filled in order: its staff, then cohort by cohort its pupils,
//! classes, teaching groups and activities. Entities refer to each other by
//! position while building, so nothing is ever searched for; the vectors are
//! preallocated from the plan. Random choices come from one ChaCha8 stream
//! in a fixed order, which is what makes the output a function of the seed.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Offset, TimeZone, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use skolsync_model::codes::{
    ActivityType, DutyRole, EmailType, GroupType, OrganisationType, PersonStatus, SecurityMarking,
    Ss12000SchoolType,
};
use skolsync_model::ids::{EducationCode, OrganisationNumber, SchoolUnitCode, TestActivityName};
use skolsync_model::open_data;
use skolsync_model::ss12000::EntityKind;
use skolsync_model::ss12000::{
    Activity, Duty, Email, Enrolment, ExternalIdentifier, Group, GroupMembership, Meta,
    Organisation, Person, Programme, RawCivicNo, Reference, SourceId, Syllabus, TeacherAssignment,
};
use uuid::Uuid;

use super::civic::{self, Allocator};
use super::curriculum::{self, Course, ORIENTATIONS, Orientation, Subject};
use super::names::{self, ascii_fold, eppn_reveals_name};
use super::{GenerateConfig, Municipality, REFERENCE_DATE, TERM_START};
use crate::world::{Catalogue, Deletion, SourceData};

/// Namespace of every generated id (UUIDv5 of a fixed URL); the seed is
/// folded in per municipality.
fn root_namespace() -> Uuid {
    Uuid::new_v5(
        &Uuid::NAMESPACE_URL,
        b"https://skolsync.invalid/sandbox/generate",
    )
}

/// Kinds of generated id, so equal indices of different kinds never clash.
#[derive(Debug, Clone, Copy)]
#[repr(u8)]
pub(crate) enum Tag {
    Organisation = 1,
    Person = 2,
    Duty = 3,
    Group = 4,
    Activity = 5,
    Syllabus = 6,
    Programme = 7,
    Eppn = 8,
    GhostPerson = 9,
    GhostDuty = 10,
    DeletedPerson = 11,
    DeletedGroup = 12,
}

/// Deterministic ids.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ids {
    ns: Uuid,
}

impl Ids {
    pub(crate) fn new(seed: u64) -> Self {
        Ids {
            ns: Uuid::new_v5(&root_namespace(), &seed.to_le_bytes()),
        }
    }

    pub(crate) fn uuid(&self, tag: Tag, index: u64) -> Uuid {
        let mut name = [0u8; 9];
        name[0] = tag as u8;
        name[1..].copy_from_slice(&index.to_le_bytes());
        Uuid::new_v5(&self.ns, &name)
    }

    pub(crate) fn id(&self, tag: Tag, index: u64) -> SourceId {
        let mut buf = Uuid::encode_buffer();
        SourceId::new(self.uuid(tag, index).hyphenated().encode_lower(&mut buf))
    }
}

/// What kind of school a unit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UnitKind {
    /// Förskoleklass and years 1–6.
    F6,
    /// Years 7–9.
    Y79,
    /// Förskoleklass and years 1–9.
    F9,
    /// Upper secondary.
    Gy,
}

/// A year group: förskoleklass (`Gr(0)` is never used), GR year, GY year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cohort {
    Fklass,
    Gr(u8),
    Gy(u8),
}

impl Cohort {
    /// Years since förskoleklass, which fixes the birth year.
    fn age_step(self) -> i32 {
        match self {
            Cohort::Fklass => 0,
            Cohort::Gr(y) => i32::from(y),
            Cohort::Gy(y) => 9 + i32::from(y),
        }
    }

    fn all() -> [Cohort; 13] {
        [
            Cohort::Fklass,
            Cohort::Gr(1),
            Cohort::Gr(2),
            Cohort::Gr(3),
            Cohort::Gr(4),
            Cohort::Gr(5),
            Cohort::Gr(6),
            Cohort::Gr(7),
            Cohort::Gr(8),
            Cohort::Gr(9),
            Cohort::Gy(1),
            Cohort::Gy(2),
            Cohort::Gy(3),
        ]
    }
}

/// A planned unit: its kind and how many pupils of each cohort it takes.
#[derive(Debug, Clone)]
struct UnitPlan {
    kind: UnitKind,
    cohorts: Vec<(Cohort, usize)>,
}

impl UnitPlan {
    fn students(&self) -> usize {
        self.cohorts.iter().map(|(_, n)| n).sum()
    }
}

/// A unit while it is being filled.
#[derive(Debug, Clone)]
struct Unit {
    org: SourceId,
    code: String,
    name: String,
    kind: UnitKind,
    /// Position among the units of its kind.
    ordinal: usize,
    teacher_duties: Vec<usize>,
    next_teacher: usize,
}

/// Records that may receive dirt, by category (positions in the source
/// vectors), and the unit codes open-data does not know.
#[derive(Debug, Default)]
pub(crate) struct Eligible {
    /// GR/GY pupils with an ordinary personnummer or samordningsnummer.
    pub students: Vec<usize>,
    /// Non-teaching staff other than principals (persons).
    pub staff: Vec<usize>,
    /// Their duties.
    pub duties: Vec<usize>,
    /// GR and GY classes.
    pub classes: Vec<usize>,
    /// Teaching groups of tested subjects and courses.
    pub test_groups: Vec<usize>,
    /// Their activities.
    pub test_activities: Vec<usize>,
    /// Source organisation ids of school units open-data does not know.
    pub ghost_units: Vec<SourceId>,
}

/// Probabilities of the less common things.
const SAMORDNINGSNUMMER_SHARE: f64 = 0.010;
const TEMPORARY_SHARE: f64 = 0.003;
const STAFF_SAMORDNINGSNUMMER_SHARE: f64 = 0.005;
const SKYDDAD_SHARE: f64 = 0.002;
const SEKRETESS_SHARE: f64 = 0.006;
const MIDDLE_NAME_SHARE: f64 = 0.10;
const SVA_SHARE: f64 = 0.08;
const MOVED_CLASS_SHARE: f64 = 0.005;
const ENDED_ENROLMENT_SHARE: f64 = 0.005;
const SECOND_TEACHER_SHARE: f64 = 0.15;
const SECOND_DUTY_SHARE: f64 = 0.05;
const EDUID_SHARE: f64 = 0.10;
const GR_CLASS_SIZE: usize = 25;
const GY_CLASS_SIZE: usize = 32;
const STUDENTS_PER_TEACHER: usize = 13;

/// A multiplier coprime to 90 000 000 (not divisible by 2, 3 or 5), so
/// stepping through eight-digit codes with it never repeats.
const UNIT_CODE_STEP: u64 = 7_919_891;

pub(crate) fn build(config: &GenerateConfig) -> (Municipality, Eligible) {
    let mut b = Builder::new(config);
    let plans = b.plan();
    b.organisations(&plans);
    b.programmes();
    for (i, plan) in plans.iter().enumerate() {
        b.fill_unit(i, plan);
    }
    b.second_duties();
    b.deletions();
    if config.dirt > 0.0 {
        b.ghost_unit();
    }
    let catalogue = b.catalogue();
    let municipality = Municipality {
        name: b.display_name.clone(),
        organisation_number: b.org_number.clone(),
        municipality_code: config.municipality_code.clone(),
        domain: b.domain.clone(),
        reference_date: REFERENCE_DATE,
        catalogue,
        source: b.source,
        dirty: Vec::new(),
    };
    (municipality, b.eligible)
}

struct Builder<'c> {
    cfg: &'c GenerateConfig,
    rng: ChaCha8Rng,
    ids: Ids,
    civic: Allocator,
    display_name: String,
    org_number: String,
    domain: String,
    huvudman: SourceId,
    source: SourceData,
    units: Vec<Unit>,
    extra_units: Vec<(Unit, open_data::Status, bool)>,
    eligible: Eligible,
    counters: [u64; 16],
    syllabuses: HashMap<(&'static str, u8, u8), SourceId>,
    programme_ids: HashMap<&'static str, SourceId>,
    staff_emails: HashMap<String, u32>,
    eduids: HashSet<String>,
    created: DateTime<FixedOffset>,
    unit_code_base: u64,
    unit_code_next: u64,
}

/// +02:00, Swedish summer time, the offset school systems report.
fn swedish_offset() -> FixedOffset {
    FixedOffset::east_opt(7200).unwrap_or_else(|| Utc.fix())
}

/// A local time in Sweden in summer.
fn swedish_time(day: NaiveDate, hour: u32) -> DateTime<FixedOffset> {
    let local = day.and_hms_opt(hour, 0, 0).unwrap_or_default();
    swedish_offset()
        .from_local_datetime(&local)
        .single()
        .unwrap_or_else(|| local.and_utc().fixed_offset())
}

/// Splits `total` into parts proportional to `weights` (largest remainder),
/// so the parts always add up to `total`.
fn apportion(total: usize, weights: &[f64]) -> Vec<usize> {
    let sum: f64 = weights.iter().sum();
    if weights.is_empty() || sum <= 0.0 {
        return vec![0; weights.len()];
    }
    let exact: Vec<f64> = weights.iter().map(|w| total as f64 * w / sum).collect();
    let mut parts: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let mut left = total.saturating_sub(parts.iter().sum());
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| {
        let ra = exact[a] - exact[a].floor();
        let rb = exact[b] - exact[b].floor();
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    for &i in order.iter().cycle() {
        if left == 0 {
            break;
        }
        parts[i] += 1;
        left -= 1;
    }
    parts
}

/// `count` split into `n` near-equal parts.
fn split_even(count: usize, n: usize) -> Vec<usize> {
    apportion(count, &vec![1.0; n.max(1)])
}

fn term_start_of(year: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, 8, 17).unwrap_or(TERM_START)
}

impl<'c> Builder<'c> {
    fn new(cfg: &'c GenerateConfig) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let ids = Ids::new(cfg.seed);
        let display_name = format!("{} kommun", cfg.municipality_name.trim());
        let domain = format!("{}.se", ascii_fold(cfg.municipality_name.trim()));
        // Municipalities' organisation numbers are 212000-NNNC.
        let org_number = civic::organisation_number("212000", rng.random_range(100..1000));
        let unit_code_base = rng.random_range(0..90_000_000u64);
        let created = swedish_time(NaiveDate::from_ymd_opt(2026, 5, 4).unwrap_or(TERM_START), 8);
        let n = cfg.students;
        let staff_estimate = n / 11 + 64;
        let source = SourceData {
            persons: Vec::with_capacity(n + staff_estimate),
            duties: Vec::with_capacity(staff_estimate + staff_estimate / 16),
            groups: Vec::with_capacity(n / 5 + 64),
            activities: Vec::with_capacity(n / 6 + 64),
            ..SourceData::default()
        };
        Builder {
            cfg,
            rng,
            ids,
            civic: Allocator::new(cfg.seed),
            display_name,
            org_number,
            domain,
            huvudman: ids.id(Tag::Organisation, 0),
            source,
            units: Vec::new(),
            extra_units: Vec::new(),
            eligible: Eligible::default(),
            counters: [0; 16],
            syllabuses: HashMap::new(),
            programme_ids: HashMap::new(),
            staff_emails: HashMap::new(),
            eduids: HashSet::new(),
            created,
            unit_code_base,
            unit_code_next: 0,
        }
    }

    fn next_id(&mut self, tag: Tag) -> SourceId {
        let slot = &mut self.counters[tag as usize];
        let index = *slot;
        *slot += 1;
        self.ids.id(tag, index)
    }

    /// Timestamps: created at a fixed instant, modified some time later
    /// but before the reference date, so `meta.modified.after` filters bite.
    fn meta(&mut self) -> Meta {
        let seconds = self.rng.random_range(0..(100 * 24 * 3600i64));
        let modified = self.created + chrono::Duration::seconds(seconds);
        Meta {
            created: Some(self.created),
            modified: Some(modified),
        }
    }

    fn next_unit_code(&mut self) -> String {
        let i = self.unit_code_next;
        self.unit_code_next += 1;
        let code = 10_000_000 + (self.unit_code_base + i * UNIT_CODE_STEP) % 90_000_000;
        code.to_string()
    }

    // ------------------------------------------------------------------
    // Planning

    fn plan(&mut self) -> Vec<UnitPlan> {
        let n = self.cfg.students;
        let per_unit = self.cfg.students_per_unit.max(50);
        let cohorts = Cohort::all();
        let weights: Vec<f64> = cohorts
            .iter()
            .map(|c| if matches!(c, Cohort::Gy(_)) { 0.9 } else { 1.0 })
            .collect();
        let sizes = apportion(n, &weights);
        let gr_total: usize = sizes[..10].iter().sum();
        // F–9 schools only appear once there is room for one besides an
        // F–6 and a 7–9 school.
        let f9_share = if gr_total >= 4 * per_unit { 0.2 } else { 0.0 };

        let mut f6: Vec<(Cohort, usize)> = Vec::new();
        let mut y79: Vec<(Cohort, usize)> = Vec::new();
        let mut f9: Vec<(Cohort, usize)> = Vec::new();
        let mut gy: Vec<(Cohort, usize)> = Vec::new();
        for (c, &size) in cohorts.iter().zip(&sizes) {
            match c {
                Cohort::Gy(_) => gy.push((*c, size)),
                _ => {
                    let in_f9 = (size as f64 * f9_share).round() as usize;
                    f9.push((*c, in_f9));
                    match c {
                        Cohort::Gr(y) if *y >= 7 => y79.push((*c, size - in_f9)),
                        _ => f6.push((*c, size - in_f9)),
                    }
                }
            }
        }
        let total = |v: &[(Cohort, usize)]| v.iter().map(|(_, n)| n).sum::<usize>();
        let units_for =
            |students: usize, per: usize| ((students as f64 / per as f64).round() as usize).max(1);
        let n_f6 = units_for(total(&f6), per_unit);
        let n_79 = units_for(total(&y79), per_unit);
        let n_f9 = if total(&f9) > 0 {
            units_for(total(&f9), per_unit + 50)
        } else {
            0
        };
        let n_gy = units_for(total(&gy), per_unit + per_unit / 2);

        let mut plans = Vec::with_capacity(n_f6 + n_79 + n_f9 + n_gy);
        for (kind, count, cohorts) in [
            (UnitKind::F6, n_f6, &f6),
            (UnitKind::F9, n_f9, &f9),
            (UnitKind::Y79, n_79, &y79),
            (UnitKind::Gy, n_gy, &gy),
        ] {
            if count == 0 {
                continue;
            }
            // Units differ in size by up to ±20 %.
            let weights: Vec<f64> = (0..count)
                .map(|_| self.rng.random_range(0.8..1.2))
                .collect();
            let mut unit_cohorts: Vec<Vec<(Cohort, usize)>> = vec![Vec::new(); count];
            for &(c, size) in cohorts.iter() {
                for (u, part) in apportion(size, &weights).into_iter().enumerate() {
                    unit_cohorts[u].push((c, part));
                }
            }
            plans.extend(
                unit_cohorts
                    .into_iter()
                    .map(|cohorts| UnitPlan { kind, cohorts }),
            );
        }
        plans
    }

    // ------------------------------------------------------------------
    // Organisations and programmes

    fn unit_name(&mut self, kind: UnitKind, index: usize) -> String {
        let prefixes = names::SCHOOL_PREFIX;
        let suffixes = names::SCHOOL_SUFFIX;
        if kind == UnitKind::Gy {
            let p = prefixes[(index * 7 + 3) % prefixes.len()];
            let round = index / prefixes.len();
            return if round == 0 {
                format!("{p}gymnasiet")
            } else {
                format!("{p}gymnasiet {}", round + 1)
            };
        }
        let combos = prefixes.len() * suffixes.len();
        let k = (index * 37) % combos;
        let base = format!(
            "{}{}",
            prefixes[k % prefixes.len()],
            suffixes[(k / prefixes.len()) % suffixes.len()]
        );
        let round = index / combos;
        if round == 0 {
            base
        } else {
            format!("{base} {}", round + 1)
        }
    }

    fn organisations(&mut self, plans: &[UnitPlan]) {
        let meta = self.meta();
        self.source.organisations.push(Organisation {
            id: self.huvudman.clone(),
            meta,
            display_name: self.display_name.clone(),
            organisation_code: Some(ascii_fold(&self.cfg.municipality_name).to_uppercase()),
            organisation_type: OrganisationType::Huvudman,
            organisation_number: Some(self.org_number.clone()),
            parent_organisation: None,
            school_unit_code: None,
            school_types: Vec::new(),
            municipality_code: Some(self.cfg.municipality_code.clone()),
            start_date: NaiveDate::from_ymd_opt(1971, 1, 1),
            end_date: None,
        });
        self.counters[Tag::Organisation as usize] = 1;
        let (mut gr_index, mut gy_index) = (0, 0);
        for plan in plans {
            let (name, ordinal) = if plan.kind == UnitKind::Gy {
                gy_index += 1;
                (self.unit_name(UnitKind::Gy, gy_index - 1), gy_index - 1)
            } else {
                gr_index += 1;
                (self.unit_name(plan.kind, gr_index - 1), gr_index - 1)
            };
            let mut unit = self.push_unit(name, plan.kind, None);
            unit.ordinal = ordinal;
            self.units.push(unit);
        }
        // Two units for reject tests: one closed, one not (yet) in the
        // provtjänst. Neither has pupils.
        let closed_name = format!("Gamla {}", self.unit_name(UnitKind::F6, gr_index));
        let closed = self.push_unit(
            closed_name,
            UnitKind::F6,
            NaiveDate::from_ymd_opt(2025, 6, 30),
        );
        self.extra_units
            .push((closed, open_data::Status::Expired, true));
        let new_name = self.unit_name(UnitKind::Y79, gr_index + 1);
        let not_in_dnp = self.push_unit(new_name, UnitKind::Y79, None);
        self.extra_units
            .push((not_in_dnp, open_data::Status::Active, false));
    }

    /// A unit the school system has but open-data does not: the target of
    /// "unknown school unit" dirt. Made last so that the clean part of the
    /// data is the same with and without dirt.
    fn ghost_unit(&mut self) {
        let ghost = self.push_unit("Nya Hamnskolan".to_string(), UnitKind::F9, None);
        if let Some(org) = self.source.organisations.last_mut() {
            org.school_types.push(Ss12000SchoolType::Gy);
        }
        self.eligible.ghost_units.push(ghost.org);
    }

    fn push_unit(&mut self, name: String, kind: UnitKind, end_date: Option<NaiveDate>) -> Unit {
        let id = self.next_id(Tag::Organisation);
        let code = self.next_unit_code();
        let meta = self.meta();
        let short: String = ascii_fold(&name)
            .chars()
            .take(4)
            .collect::<String>()
            .to_uppercase();
        self.source.organisations.push(Organisation {
            id: id.clone(),
            meta,
            display_name: name.clone(),
            organisation_code: Some(format!("{short}{}", &code[code.len() - 2..])),
            organisation_type: OrganisationType::Skolenhet,
            organisation_number: None,
            parent_organisation: Some(Reference::to(self.huvudman.as_str())),
            school_unit_code: Some(code.clone()),
            school_types: ss12000_school_types(kind),
            municipality_code: Some(self.cfg.municipality_code.clone()),
            start_date: NaiveDate::from_ymd_opt(2011, 7, 1),
            end_date,
        });
        Unit {
            org: id,
            code,
            name,
            kind,
            ordinal: 0,
            teacher_duties: Vec::new(),
            next_teacher: 0,
        }
    }

    fn programmes(&mut self) {
        for o in ORIENTATIONS {
            let id = self.next_id(Tag::Programme);
            let meta = self.meta();
            self.source.programmes.push(Programme {
                id: id.clone(),
                meta,
                name: o.name.to_string(),
                code: Some(o.code.to_string()),
                school_type: Some(Ss12000SchoolType::Gy),
            });
            self.programme_ids.insert(o.code, id);
        }
    }

    fn gr_syllabus(&mut self, subject: Subject, year: u8) -> SourceId {
        let (start, end) = curriculum::stage(year);
        if let Some(id) = self.syllabuses.get(&(subject.code, start, end)) {
            return id.clone();
        }
        let id = self.next_id(Tag::Syllabus);
        let meta = self.meta();
        self.source.syllabuses.push(Syllabus {
            id: id.clone(),
            meta,
            school_type: Some(Ss12000SchoolType::Gr),
            subject_code: Some(subject.code.to_string()),
            subject_name: Some(subject.name.to_string()),
            subject_designation: Some(subject.designation.to_string()),
            course_code: None,
            course_name: None,
            start_school_year: Some(start),
            end_school_year: Some(end),
            official: Some(true),
        });
        self.syllabuses
            .insert((subject.code, start, end), id.clone());
        id
    }

    fn gy_syllabus(&mut self, course: Course) -> SourceId {
        if let Some(id) = self.syllabuses.get(&(course.code, 0, 0)) {
            return id.clone();
        }
        let id = self.next_id(Tag::Syllabus);
        let meta = self.meta();
        self.source.syllabuses.push(Syllabus {
            id: id.clone(),
            meta,
            school_type: Some(Ss12000SchoolType::Gy),
            subject_code: Some(course.subject.to_string()),
            subject_name: Some(course.subject_name.to_string()),
            subject_designation: Some(course.subject.to_string()),
            course_code: Some(course.code.to_string()),
            course_name: Some(course.name.to_string()),
            start_school_year: None,
            end_school_year: None,
            official: Some(true),
        });
        self.syllabuses.insert((course.code, 0, 0), id.clone());
        id
    }

    // ------------------------------------------------------------------
    // Persons

    fn names(&mut self, male: bool) -> (String, Option<String>, String) {
        let pool = if male {
            names::MALE_GIVEN
        } else {
            names::FEMALE_GIVEN
        };
        let given = pool[self.rng.random_range(0..pool.len())];
        let family = names::FAMILY[self.rng.random_range(0..names::FAMILY.len())];
        let middle = if self.rng.random_bool(MIDDLE_NAME_SHARE) {
            Some(names::MIDDLE[self.rng.random_range(0..names::MIDDLE.len())].to_string())
        } else {
            None
        };
        (given.to_string(), middle, family.to_string())
    }

    /// An EPPN for person number `index` that does not reveal the name.
    fn eppn(&self, index: u64, given: &str, family: &str) -> String {
        let mut buf = Uuid::encode_buffer();
        for attempt in 0..64u64 {
            let uuid = self.ids.uuid(Tag::Eppn, index * 64 + attempt);
            let eppn = format!(
                "{}@edu.{}",
                uuid.hyphenated().encode_lower(&mut buf),
                self.domain
            );
            if !eppn_reveals_name(&eppn, given, family) {
                return eppn;
            }
        }
        // 64 hex strings in a row containing the name cannot happen for
        // names with a letter past `f`; digits only as a last resort.
        format!("{index:012}@edu.{}", self.domain)
    }

    fn security_marking(&mut self) -> SecurityMarking {
        let r: f64 = self.rng.random();
        if r < SKYDDAD_SHARE {
            SecurityMarking::SkyddadFolkbokforing
        } else if r < SKYDDAD_SHARE + SEKRETESS_SHARE {
            SecurityMarking::Sekretessmarkering
        } else {
            SecurityMarking::Ingen
        }
    }

    fn random_day_in(&mut self, year: i32) -> NaiveDate {
        let days = if NaiveDate::from_ymd_opt(year, 2, 29).is_some() {
            366
        } else {
            365
        };
        let ordinal = self.rng.random_range(1..=days);
        NaiveDate::from_yo_opt(year, ordinal).unwrap_or(TERM_START)
    }

    /// A pupil of `cohort` at `unit`; returns its position and whether it
    /// reads Swedish as a second language.
    fn student(
        &mut self,
        unit: usize,
        cohort: Cohort,
        orientation: Option<&Orientation>,
    ) -> (usize, bool) {
        let index = self.source.persons.len();
        let id = self.next_id(Tag::Person);
        let meta = self.meta();
        // Year 1 pupils turn 7 in the reference year; a few are a year
        // older or younger than their cohort.
        let mut birth_year = REFERENCE_DATE.year() - 6 - cohort.age_step();
        let r: f64 = self.rng.random();
        if r < 0.02 {
            birth_year -= 1;
        } else if r < 0.03 {
            birth_year += 1;
        }
        let birth = self.random_day_in(birth_year);
        let r: f64 = self.rng.random();
        let kind = if r < TEMPORARY_SHARE {
            civic::Kind::Temporary
        } else if r < TEMPORARY_SHARE + SAMORDNINGSNUMMER_SHARE {
            civic::Kind::Samordningsnummer
        } else {
            civic::Kind::Personnummer
        };
        let number = self.civic.next(birth, kind);
        let (given, middle, family) = self.names(number.male);
        let eppn = self.eppn(index as u64, &given, &family);
        let email = format!(
            "{}.{}{}@elev.{}",
            ascii_fold(&given),
            ascii_fold(&family),
            index,
            self.domain
        );
        let marking = self.security_marking();
        let sva = !matches!(cohort, Cohort::Fklass) && self.rng.random_bool(SVA_SHARE);

        let u = &self.units[unit];
        let (school_type, school_year) = match cohort {
            Cohort::Fklass => (Ss12000SchoolType::Fklass, 0),
            Cohort::Gr(y) => (Ss12000SchoolType::Gr, y),
            Cohort::Gy(y) => (Ss12000SchoolType::Gy, y),
        };
        // The pupil has been at this unit since its first year there.
        let first_year = match (u.kind, cohort) {
            (UnitKind::Y79, Cohort::Gr(y)) => i32::from(y) - 7,
            (UnitKind::Gy, Cohort::Gy(y)) => i32::from(y) - 1,
            (_, c) => c.age_step(),
        };
        let mut enrolments = Vec::with_capacity(1);
        let moved_here = match cohort {
            Cohort::Gr(y) => (y >= 2 && u.kind != UnitKind::Y79) || y >= 8,
            Cohort::Gy(y) => y >= 2,
            Cohort::Fklass => false,
        };
        if moved_here && self.rng.random_bool(ENDED_ENROLMENT_SHARE) {
            // Moved here over the summer from a unit of the same kind, where
            // the pupil did the previous year.
            if let Some(other) = self.other_unit_like(unit) {
                enrolments.push(Enrolment {
                    enroled_at: Reference::to(self.units[other].org.as_str()),
                    school_year: Some(school_year - 1),
                    school_type,
                    start_date: Some(term_start_of(REFERENCE_DATE.year() - 1)),
                    end_date: NaiveDate::from_ymd_opt(REFERENCE_DATE.year(), 6, 12),
                    cancelled: None,
                    education_code: orientation.map(|o| o.code.to_string()),
                    programme: orientation
                        .and_then(|o| self.programme_ids.get(o.code))
                        .map(|p| Reference::to(p.as_str())),
                });
            }
        }
        let u = &self.units[unit];
        enrolments.push(Enrolment {
            enroled_at: Reference::to(u.org.as_str()),
            school_year: Some(school_year),
            school_type,
            start_date: Some(term_start_of(REFERENCE_DATE.year() - first_year.max(0))),
            end_date: None,
            cancelled: None,
            education_code: orientation.map(|o| o.code.to_string()),
            programme: orientation
                .and_then(|o| self.programme_ids.get(o.code))
                .map(|p| Reference::to(p.as_str())),
        });

        self.source.persons.push(Person {
            id,
            meta,
            given_name: given,
            middle_name: middle,
            family_name: family,
            edu_person_principal_names: vec![eppn],
            external_identifiers: Vec::new(),
            civic_no: Some(RawCivicNo {
                value: number.value,
                nationality: Some("SE".to_string()),
            }),
            security_marking: Some(marking),
            person_status: Some(PersonStatus::Aktiv),
            emails: vec![Email {
                value: email,
                email_type: Some(EmailType::SkolaElev),
            }],
            enrolments,
        });
        if cohort != Cohort::Fklass && kind != civic::Kind::Temporary {
            self.eligible.students.push(index);
        }
        (index, sva)
    }

    /// Another unit of the same kind, if there is one.
    fn other_unit_like(&mut self, unit: usize) -> Option<usize> {
        let kind = self.units[unit].kind;
        let n = self.units.len();
        let start = self.rng.random_range(0..n);
        (0..n)
            .map(|k| (start + k) % n)
            .find(|&k| k != unit && self.units[k].kind == kind)
    }

    fn eduid(&mut self) -> String {
        const CONSONANTS: &[u8] = b"bdfghjklmnprstv";
        const VOWELS: &[u8] = b"aeiou";
        loop {
            let mut word = String::with_capacity(11);
            for part in 0..2 {
                if part == 1 {
                    word.push('-');
                }
                for i in 0..5 {
                    let set = if i % 2 == 0 { CONSONANTS } else { VOWELS };
                    word.push(char::from(set[self.rng.random_range(0..set.len())]));
                }
            }
            if self.eduids.insert(word.clone()) {
                return format!("{word}@eduid.se");
            }
        }
    }

    /// A staff member with one duty at `unit`; returns the duty's position.
    fn staff(&mut self, unit: usize, role: DutyRole) -> usize {
        let index = self.source.persons.len();
        let id = self.next_id(Tag::Person);
        let meta = self.meta();
        let birth_year = self.rng.random_range(1958..=2001);
        let birth = self.random_day_in(birth_year);
        let kind = if self.rng.random_bool(STAFF_SAMORDNINGSNUMMER_SHARE) {
            civic::Kind::Samordningsnummer
        } else {
            civic::Kind::Personnummer
        };
        let number = self.civic.next(birth, kind);
        let (given, middle, family) = self.names(number.male);
        let eppn = self.eppn(index as u64, &given, &family);
        let local = format!("{}.{}", ascii_fold(&given), ascii_fold(&family));
        let seen = self.staff_emails.entry(local.clone()).or_insert(0);
        *seen += 1;
        let email = if *seen == 1 {
            format!("{local}@{}", self.domain)
        } else {
            format!("{local}{seen}@{}", self.domain)
        };
        let external_identifiers = if self.rng.random_bool(EDUID_SHARE) {
            vec![ExternalIdentifier {
                value: self.eduid(),
                context: "https://eduid.se".to_string(),
                globally_unique: Some(true),
            }]
        } else {
            Vec::new()
        };
        let marking = self.security_marking();
        let signature: String = given
            .chars()
            .take(2)
            .chain(family.chars().take(1))
            .flat_map(char::to_uppercase)
            .collect();
        self.source.persons.push(Person {
            id: id.clone(),
            meta,
            given_name: given,
            middle_name: middle,
            family_name: family,
            edu_person_principal_names: vec![eppn],
            external_identifiers,
            civic_no: Some(RawCivicNo {
                value: number.value,
                nationality: Some("SE".to_string()),
            }),
            security_marking: Some(marking),
            person_status: Some(PersonStatus::Aktiv),
            emails: vec![Email {
                value: email,
                email_type: Some(EmailType::SkolaPersonal),
            }],
            enrolments: Vec::new(),
        });
        let started = self.rng.random_range(2005..=REFERENCE_DATE.year());
        let duty = self.duty(unit, &id, role, signature, term_start_of(started), None);
        if !matches!(role, DutyRole::Larare | DutyRole::Rektor) {
            self.eligible.staff.push(index);
            self.eligible.duties.push(duty);
        }
        duty
    }

    fn duty(
        &mut self,
        unit: usize,
        person: &SourceId,
        role: DutyRole,
        signature: String,
        start: NaiveDate,
        end: Option<NaiveDate>,
    ) -> usize {
        let id = self.next_id(Tag::Duty);
        let meta = self.meta();
        let at = self.units[unit].org.clone();
        self.source.duties.push(Duty {
            id,
            meta,
            person: Some(Reference::to(person.as_str())),
            duty_at: Reference::to(at.as_str()),
            duty_role: role.as_str().to_string(),
            signature: Some(signature),
            start_date: Some(start),
            end_date: end,
        });
        self.source.duties.len() - 1
    }

    /// Some teachers also work at a second unit; half of those stopped
    /// there before the summer.
    fn second_duties(&mut self) {
        if self.units.len() < 2 {
            return;
        }
        for u in 0..self.units.len() {
            let duties = self.units[u].teacher_duties.clone();
            for d in duties {
                if !self.rng.random_bool(SECOND_DUTY_SHARE) {
                    continue;
                }
                let other = (u + self.rng.random_range(1..self.units.len())) % self.units.len();
                let Some(first) = self.source.duties.get(d) else {
                    continue;
                };
                let Some(person) = first.person.as_ref().map(|p| p.id.clone()) else {
                    continue;
                };
                let signature = first.signature.clone().unwrap_or_default();
                let end = if self.rng.random_bool(0.5) {
                    NaiveDate::from_ymd_opt(REFERENCE_DATE.year(), 6, 30)
                } else {
                    None
                };
                self.duty(
                    other,
                    &person,
                    DutyRole::Larare,
                    signature,
                    term_start_of(2024),
                    end,
                );
            }
        }
    }

    // ------------------------------------------------------------------
    // Groups and activities

    fn group(
        &mut self,
        unit: usize,
        name: String,
        group_type: GroupType,
        school_type: Ss12000SchoolType,
        members: &[usize],
    ) -> usize {
        let id = self.next_id(Tag::Group);
        let meta = self.meta();
        let memberships = members
            .iter()
            .map(|&p| GroupMembership {
                person: Reference {
                    id: self.source.persons[p].id.clone(),
                    display_name: None,
                    security_marking: None,
                },
                start_date: Some(TERM_START),
                end_date: None,
            })
            .collect();
        self.source.groups.push(Group {
            id,
            meta,
            display_name: name,
            start_date: Some(TERM_START),
            end_date: None,
            group_type,
            school_type: Some(school_type),
            organisation: Reference::to(self.units[unit].org.as_str()),
            group_memberships: memberships,
        });
        self.source.groups.len() - 1
    }

    fn pick_teacher(&mut self, unit: usize) -> Option<usize> {
        let u = &mut self.units[unit];
        if u.teacher_duties.is_empty() {
            return None;
        }
        let d = u.teacher_duties[u.next_teacher % u.teacher_duties.len()];
        u.next_teacher += 1;
        Some(d)
    }

    /// An activity teaching `group` with 1–2 teachers; `test` is the test
    /// activity the subject leads to, if any.
    fn activity(
        &mut self,
        unit: usize,
        name: String,
        group: usize,
        syllabus: SourceId,
        test: Option<TestActivityName>,
    ) -> usize {
        let id = self.next_id(Tag::Activity);
        let meta = self.meta();
        let mut teachers = Vec::with_capacity(2);
        if let Some(d) = self.pick_teacher(unit) {
            teachers.push(d);
        }
        if self.units[unit].teacher_duties.len() > 1 && self.rng.random_bool(SECOND_TEACHER_SHARE) {
            if let Some(d) = self.pick_teacher(unit) {
                teachers.push(d);
            }
        }
        let parent_activity = match &test {
            Some(name)
                if self
                    .rng
                    .random_bool(self.cfg.parent_activity_share.clamp(0.0, 1.0)) =>
            {
                let mut buf = Uuid::encode_buffer();
                vec![Reference::to(
                    name.skolverket_id().hyphenated().encode_lower(&mut buf),
                )]
            }
            _ => Vec::new(),
        };
        let teachers = teachers
            .into_iter()
            .map(|d| TeacherAssignment {
                duty: Some(Reference {
                    id: self.source.duties[d].id.clone(),
                    display_name: None,
                    security_marking: None,
                }),
                person: None,
                start_date: None,
                end_date: None,
            })
            .collect();
        self.source.activities.push(Activity {
            id,
            meta,
            display_name: name,
            activity_type: Some(ActivityType::Undervisning),
            start_date: Some(TERM_START),
            end_date: None,
            groups: vec![Reference {
                id: self.source.groups[group].id.clone(),
                display_name: None,
                security_marking: None,
            }],
            teachers,
            syllabus: Some(Reference::to(syllabus.as_str())),
            subject: None,
            organisation: Reference::to(self.units[unit].org.as_str()),
            parent_activity,
            embedded: None,
        });
        let index = self.source.activities.len() - 1;
        if test.is_some() {
            self.eligible.test_groups.push(group);
            self.eligible.test_activities.push(index);
        }
        index
    }

    /// A class group whose members mostly joined at term start; a few
    /// moved in from a parallel class (their old membership has ended).
    fn classes(
        &mut self,
        unit: usize,
        names: &[String],
        members: &[Vec<usize>],
        school_type: Ss12000SchoolType,
        eligible: bool,
    ) -> Vec<usize> {
        let groups: Vec<usize> = names
            .iter()
            .zip(members)
            .map(|(name, m)| self.group(unit, name.clone(), GroupType::Klass, school_type, m))
            .collect();
        if groups.len() > 1 {
            for (ci, &g) in groups.iter().enumerate() {
                let other = groups[(ci + 1) % groups.len()];
                for mi in 0..self.source.groups[g].group_memberships.len() {
                    if !self.rng.random_bool(MOVED_CLASS_SHARE) {
                        continue;
                    }
                    let left = REFERENCE_DATE.pred_opt().unwrap_or(REFERENCE_DATE);
                    let membership = &mut self.source.groups[g].group_memberships[mi];
                    membership.start_date = Some(REFERENCE_DATE);
                    let ended = GroupMembership {
                        person: membership.person.clone(),
                        start_date: Some(TERM_START),
                        end_date: Some(left),
                    };
                    self.source.groups[other].group_memberships.push(ended);
                }
            }
        }
        if eligible {
            self.eligible.classes.extend(&groups);
        }
        groups
    }

    fn fill_unit(&mut self, unit: usize, plan: &UnitPlan) {
        let students = plan.students();
        // Staff first, as school systems list them.
        self.staff(unit, DutyRole::Rektor);
        self.staff(unit, DutyRole::Skoladministrator);
        if students >= 150 {
            self.staff(unit, DutyRole::Kurator);
        }
        if students >= 250 {
            self.staff(unit, DutyRole::Speciallarare);
        }
        if students >= 600 {
            self.staff(unit, DutyRole::OvrigArbetsledning);
        }
        for _ in 0..(1 + students / 400) {
            self.staff(unit, DutyRole::AnnanPersonal);
        }
        let teachers = (students.div_ceil(STUDENTS_PER_TEACHER)).max(2);
        for _ in 0..teachers {
            let d = self.staff(unit, DutyRole::Larare);
            self.units[unit].teacher_duties.push(d);
        }

        // Each school tests one natural-science and one social-science
        // subject in year 9.
        let no = curriculum::NO_SUBJECTS[self.rng.random_range(0..curriculum::NO_SUBJECTS.len())];
        let so = curriculum::SO_SUBJECTS[self.rng.random_range(0..curriculum::SO_SUBJECTS.len())];

        for &(cohort, count) in &plan.cohorts {
            if count == 0 {
                continue;
            }
            match cohort {
                Cohort::Gy(year) => self.gy_cohort(unit, year, count, students),
                _ => self.gr_cohort(unit, cohort, count, no, so),
            }
        }
    }

    fn gr_cohort(&mut self, unit: usize, cohort: Cohort, count: usize, no: Subject, so: Subject) {
        let year = match cohort {
            Cohort::Gr(y) => y,
            _ => 0,
        };
        let n_classes = count.div_ceil(GR_CLASS_SIZE).max(1);
        let sizes = split_even(count, n_classes);
        let mut class_names = Vec::with_capacity(n_classes);
        let mut class_members: Vec<Vec<usize>> = Vec::with_capacity(n_classes);
        let mut class_sva: Vec<Vec<bool>> = Vec::with_capacity(n_classes);
        for (ci, &size) in sizes.iter().enumerate() {
            let prefix = if year == 0 {
                "F".to_string()
            } else {
                year.to_string()
            };
            class_names.push(format!("{prefix}{}", names::class_letter(ci)));
            let mut members = Vec::with_capacity(size);
            let mut sva = Vec::with_capacity(size);
            for _ in 0..size {
                let (p, s) = self.student(unit, cohort, None);
                members.push(p);
                sva.push(s);
            }
            class_members.push(members);
            class_sva.push(sva);
        }
        let school_type = if year == 0 {
            Ss12000SchoolType::Fklass
        } else {
            Ss12000SchoolType::Gr
        };
        self.classes(unit, &class_names, &class_members, school_type, year > 0);
        if year == 0 {
            return;
        }

        let tested: Vec<Subject> = curriculum::gr_test_subjects(year)
            .iter()
            .copied()
            .filter(|s| {
                year != 9
                    || !(curriculum::NO_SUBJECTS.contains(s) || curriculum::SO_SUBJECTS.contains(s))
                    || *s == no
                    || *s == so
            })
            .collect();
        let mut sva_members = Vec::new();
        for ci in 0..class_names.len() {
            let class = class_names[ci].clone();
            let all = class_members[ci].clone();
            let not_sva: Vec<usize> = all
                .iter()
                .zip(&class_sva[ci])
                .filter(|(_, s)| !**s)
                .map(|(p, _)| *p)
                .collect();
            sva_members.extend(
                all.iter()
                    .zip(&class_sva[ci])
                    .filter(|(_, s)| **s)
                    .map(|(p, _)| *p),
            );

            // Untested subjects: PE for everyone, crafts in years 5–6, and
            // mentor groups (no activity) in years 7–9.
            self.untested_gr_group(unit, &class, curriculum::IDH, year, &all);
            if (5..=6).contains(&year) {
                self.untested_gr_group(unit, &class, curriculum::SLJ, year, &all);
            }
            if year >= 7 {
                self.group(
                    unit,
                    format!("Mentorsgrupp {class}"),
                    GroupType::Mentor,
                    Ss12000SchoolType::Gr,
                    &all,
                );
            }
            for subject in &tested {
                if *subject == curriculum::SVA {
                    continue;
                }
                let members = if *subject == curriculum::SVE {
                    &not_sva
                } else {
                    &all
                };
                self.tested_gr_group(
                    unit,
                    format!("{class} {}", subject.designation),
                    *subject,
                    year,
                    members,
                );
            }
        }
        if tested.contains(&curriculum::SVA) && !sva_members.is_empty() {
            self.tested_gr_group(
                unit,
                format!("{year} SVA"),
                curriculum::SVA,
                year,
                &sva_members,
            );
        }
    }

    fn untested_gr_group(
        &mut self,
        unit: usize,
        class: &str,
        subject: Subject,
        year: u8,
        members: &[usize],
    ) {
        let g = self.group(
            unit,
            format!("{class} {}", subject.designation),
            GroupType::Undervisning,
            Ss12000SchoolType::Gr,
            members,
        );
        let syllabus = self.gr_syllabus(subject, year);
        self.activity(unit, format!("{} {class}", subject.name), g, syllabus, None);
    }

    fn tested_gr_group(
        &mut self,
        unit: usize,
        name: String,
        subject: Subject,
        year: u8,
        members: &[usize],
    ) {
        let g = self.group(
            unit,
            name.clone(),
            GroupType::Undervisning,
            Ss12000SchoolType::Gr,
            members,
        );
        let syllabus = self.gr_syllabus(subject, year);
        let test = TestActivityName::for_subject_and_year(subject.code, year);
        self.activity(
            unit,
            format!("{} {name}", subject.name),
            g,
            syllabus,
            Some(test),
        );
    }

    fn gy_cohort(&mut self, unit: usize, year: u8, count: usize, unit_students: usize) {
        // A unit offers a handful of orientations, more the larger it is;
        // the first unit has the largest programmes.
        let offered_count = (unit_students / 80).clamp(3, ORIENTATIONS.len());
        let start = self.units[unit].ordinal * 3;
        let offered: Vec<&Orientation> = (0..offered_count)
            .map(|i| &ORIENTATIONS[(start + i) % ORIENTATIONS.len()])
            .collect();
        let weights: Vec<f64> = offered.iter().map(|o| f64::from(o.weight)).collect();
        let parts = apportion(count, &weights);
        // Class names carry the programme and the start year: NA26A.
        let start_year = (REFERENCE_DATE.year() - i32::from(year) + 1) % 100;
        let mut letters: HashMap<&str, usize> = HashMap::new();
        let mut sva_groups: Vec<(Course, Vec<usize>)> = Vec::new();
        for (o, &n) in offered.iter().zip(&parts) {
            if n == 0 {
                continue;
            }
            let n_classes = n.div_ceil(GY_CLASS_SIZE).max(1);
            for size in split_even(n, n_classes) {
                if size == 0 {
                    continue;
                }
                let letter_index = letters.entry(o.programme).or_insert(0);
                let class = format!(
                    "{}{start_year:02}{}",
                    o.programme,
                    names::class_letter(*letter_index)
                );
                *letter_index += 1;
                let mut members = Vec::with_capacity(size);
                let mut not_sva = Vec::with_capacity(size);
                let mut sva = Vec::new();
                for _ in 0..size {
                    let (p, s) = self.student(unit, Cohort::Gy(year), Some(o));
                    members.push(p);
                    if s { sva.push(p) } else { not_sva.push(p) }
                }
                self.classes(
                    unit,
                    std::slice::from_ref(&class),
                    std::slice::from_ref(&members),
                    Ss12000SchoolType::Gy,
                    true,
                );
                self.group(
                    unit,
                    format!("Mentorsgrupp {class}"),
                    GroupType::Mentor,
                    Ss12000SchoolType::Gy,
                    &members,
                );
                for (course, sva_course) in curriculum::gy_courses(o, year) {
                    let group_members = if sva_course.is_some() {
                        &not_sva
                    } else {
                        &members
                    };
                    self.gy_group(
                        unit,
                        format!("{class} {}", course.code),
                        course,
                        group_members,
                    );
                    if let Some(alt) = sva_course {
                        match sva_groups.iter_mut().find(|(c, _)| *c == alt) {
                            Some((_, m)) => m.extend(&sva),
                            None => sva_groups.push((alt, sva.clone())),
                        }
                    }
                }
            }
        }
        for (course, members) in sva_groups {
            if !members.is_empty() {
                self.gy_group(
                    unit,
                    format!("{} {start_year:02}", course.code),
                    course,
                    &members,
                );
            }
        }
    }

    fn gy_group(&mut self, unit: usize, name: String, course: Course, members: &[usize]) {
        let g = self.group(
            unit,
            name,
            GroupType::Undervisning,
            Ss12000SchoolType::Gy,
            members,
        );
        let syllabus = self.gy_syllabus(course);
        let test = course
            .tested
            .then(|| TestActivityName::for_course(course.code));
        let activity_name = format!("{} {}", course.name, self.source.groups[g].display_name);
        self.activity(unit, activity_name, g, syllabus, test);
    }

    // ------------------------------------------------------------------
    // Deletions and the catalogue

    fn deletions(&mut self) {
        let persons = (self.cfg.students / 500).max(1);
        let base = swedish_time(
            NaiveDate::from_ymd_opt(REFERENCE_DATE.year(), 6, 15).unwrap_or(TERM_START),
            18,
        );
        for k in 0..persons {
            let at = base + chrono::Duration::minutes((k as i64 * 97) % (60 * 24 * 60));
            self.source.deleted.push(Deletion {
                kind: EntityKind::Person,
                id: self.ids.id(Tag::DeletedPerson, k as u64),
                at,
            });
        }
        self.source.deleted.push(Deletion {
            kind: EntityKind::Group,
            id: self.ids.id(Tag::DeletedGroup, 0),
            at: base + chrono::Duration::days(3),
        });
        self.source.deleted.sort_by_key(|d| d.at);
    }

    fn catalogue(&self) -> Catalogue {
        let org_id = OrganisationNumber::new(&self.org_number).skolverket_id();
        let organisation = open_data::Organisation {
            id: org_id,
            display_name: self.display_name.clone(),
            organisation_number: self.org_number.clone(),
            country_code: Some("SWE".to_string()),
            organisation_type: Some("Huvudman".to_string()),
            legal_form: Some(open_data::Labelled {
                id: Some("82".to_string()),
                display_name: Some("Kommuner".to_string()),
            }),
            organiser_type: Some(open_data::Labelled {
                id: Some("01".to_string()),
                display_name: Some("Kommuner och kommunalförbund".to_string()),
            }),
            status: Some(open_data::Status::Active),
            school_units: None,
            email: Some(format!("kommun@{}", self.domain)),
            phone_number: Some("+46 10 123 45 67".to_string()),
            address: Some(open_data::Address {
                street_address: Some("Stadshustorget 1".to_string()),
                postal_code: Some("123 45".to_string()),
                locality: Some(self.cfg.municipality_name.clone()),
            }),
        };
        let parent = open_data::OrganisationReference {
            id: org_id,
            organisation_number: self.org_number.clone(),
            display_name: Some(self.display_name.clone()),
        };
        let unit_entry = |u: &Unit, status: open_data::Status, dnp: bool| open_data::SchoolUnit {
            id: SchoolUnitCode::new(&u.code).skolverket_id(),
            display_name: u.name.clone(),
            school_unit_code: u.code.clone(),
            school_types: open_data_school_types(u.kind, dnp),
            municipality_code: Some(self.cfg.municipality_code.clone()),
            municipality_name: Some(self.cfg.municipality_name.clone()),
            status: Some(status),
            dnp_status: Some(dnp),
            parent_organisation: Some(parent.clone()),
        };
        let mut school_units: Vec<open_data::SchoolUnit> = self
            .units
            .iter()
            .map(|u| unit_entry(u, open_data::Status::Active, true))
            .collect();
        school_units.extend(
            self.extra_units
                .iter()
                .map(|(u, s, dnp)| unit_entry(u, *s, *dnp)),
        );

        let programmes = ORIENTATIONS
            .iter()
            .map(|o| open_data::Programme {
                id: EducationCode::new(o.code).skolverket_id(),
                display_name: o.name.to_string(),
                education_code: o.code.to_string(),
                school_type: Some("GY".to_string()),
                valid_from: Some("2011-07-01T00:00:00+02:00".to_string()),
                status: Some(open_data::Status::Active),
            })
            .collect();

        let mut test_activities: Vec<open_data::TestActivity> = curriculum::gr_test_activities()
            .into_iter()
            .map(|(name, year)| open_data::TestActivity {
                id: TestActivityName::new(&name).skolverket_id(),
                display_name: name,
                activity_type: "Provaktivitet".to_string(),
                school_type: "GR".to_string(),
                school_year: Some(year),
                comment: None,
            })
            .collect();
        test_activities.extend(curriculum::gy_test_activities().map(|name| {
            open_data::TestActivity {
                id: TestActivityName::new(name).skolverket_id(),
                display_name: name.to_string(),
                activity_type: "Provaktivitet".to_string(),
                school_type: "GY".to_string(),
                school_year: None,
                comment: None,
            }
        }));

        Catalogue {
            organisations: vec![organisation],
            school_units,
            programmes,
            test_activities,
        }
    }
}

fn ss12000_school_types(kind: UnitKind) -> Vec<Ss12000SchoolType> {
    match kind {
        UnitKind::F6 | UnitKind::F9 => vec![
            Ss12000SchoolType::Fklass,
            Ss12000SchoolType::Gr,
            Ss12000SchoolType::Fth,
        ],
        UnitKind::Y79 => vec![Ss12000SchoolType::Gr],
        UnitKind::Gy => vec![Ss12000SchoolType::Gy],
    }
}

fn open_data_school_types(kind: UnitKind, dnp: bool) -> Vec<open_data::SchoolUnitSchoolType> {
    let years = |range: std::ops::RangeInclusive<u8>| {
        range
            .map(|y| open_data::SchoolYear {
                school_year: y,
                dnp_status: Some(dnp),
            })
            .collect::<Vec<_>>()
    };
    let outside = |code: &str| open_data::SchoolUnitSchoolType {
        school_type: code.to_string(),
        dnp_status: Some(false),
        school_years: Vec::new(),
    };
    let tested =
        |code: &str, range: std::ops::RangeInclusive<u8>| open_data::SchoolUnitSchoolType {
            school_type: code.to_string(),
            dnp_status: Some(dnp),
            school_years: years(range),
        };
    match kind {
        UnitKind::F6 => vec![outside("FKLASS"), outside("FTH"), tested("GR", 1..=6)],
        UnitKind::F9 => vec![outside("FKLASS"), outside("FTH"), tested("GR", 1..=9)],
        UnitKind::Y79 => vec![tested("GR", 7..=9)],
        UnitKind::Gy => vec![tested("GY", 1..=3)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apportion_adds_up_and_follows_weights() {
        let parts = apportion(100, &[1.0, 1.0, 2.0]);
        assert_eq!(parts.iter().sum::<usize>(), 100);
        assert_eq!(parts, vec![25, 25, 50]);
        assert_eq!(apportion(7, &[1.0, 1.0, 1.0]).iter().sum::<usize>(), 7);
        assert_eq!(apportion(0, &[1.0, 3.0]), vec![0, 0]);
    }

    #[test]
    fn unit_codes_are_eight_digits_and_unique() {
        let config = GenerateConfig::default();
        let mut b = Builder::new(&config);
        let codes: HashSet<String> = (0..5000).map(|_| b.next_unit_code()).collect();
        assert_eq!(codes.len(), 5000);
        assert!(
            codes
                .iter()
                .all(|c| c.len() == 8 && c.bytes().all(|b| b.is_ascii_digit()))
        );
    }
}
