//! The one-pass builder behind [`super::generate`].
//!
//! Units are planned first (how many pupils of each cohort go where), then
//! each unit is filled in order: its staff, then cohort by cohort its pupils,
//! classes, teaching groups and activities. Entities refer to each other by
//! position while building, so nothing is ever searched for; the vectors are
//! preallocated from the plan. Random choices come from one ChaCha8 stream
//! in a fixed order, which is what makes the output a function of the seed.
//!
//! This file holds the ids, the plan and the builder's state; the steps
//! live in [`organisations`] (units, programmes, syllabuses), [`persons`]
//! (pupils, staff, duties), [`groups`] (classes, teaching groups,
//! activities) and [`catalogue`] (deletions and open-data's side).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, FixedOffset, NaiveDate, Offset, TimeZone, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use skolsync_model::open_data;
use skolsync_model::ss12000::{Meta, SourceId};
use uuid::Uuid;

use super::civic::{self, Allocator};
use super::names::ascii_fold;
use super::{GenerateConfig, Municipality, REFERENCE_DATE, TERM_START};
use crate::world::SourceData;

mod catalogue;
mod groups;
mod organisations;
mod persons;

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
    b.adult_education();
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
    /// The unit that offers VUXGY (`vux_students` > 0), by position.
    vux_unit: Option<usize>,
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
            vux_unit: None,
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
