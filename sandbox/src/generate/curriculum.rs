//! What is taught and tested: subjects, GY courses and programmes, and the
//! national test activities Skolverket publishes for them.
//!
//! The codes are Skolverket's (`GRGRMAT01`, `MATMAT01c`, `NANAT`, …). Only the
//! profile's GR and GY school types are modelled; SP and SAM are left out
//! because their test activity naming could not be confirmed.

/// A GR subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Subject {
    /// Skolverket's subject code, e.g. `GRGRMAT01`.
    pub code: &'static str,
    /// Name.
    pub name: &'static str,
    /// Short designation used in timetables and group names.
    pub designation: &'static str,
}

macro_rules! subject {
    ($code:literal, $name:literal, $designation:literal) => {
        Subject {
            code: $code,
            name: $name,
            designation: $designation,
        }
    };
}

pub(crate) const MAT: Subject = subject!("GRGRMAT01", "Matematik", "MA");
pub(crate) const SVE: Subject = subject!("GRGRSVE01", "Svenska", "SV");
pub(crate) const SVA: Subject = subject!("GRGRSVA01", "Svenska som andraspråk", "SVA");
pub(crate) const ENG: Subject = subject!("GRGRENG01", "Engelska", "EN");
pub(crate) const IDH: Subject = subject!("GRGRIDH01", "Idrott och hälsa", "IDH");
pub(crate) const SLJ: Subject = subject!("GRGRSLJ01", "Slöjd", "SL");

/// Natural-science subjects; each school tests one of them in year 9.
pub(crate) const NO_SUBJECTS: [Subject; 3] = [
    subject!("GRGRBIO01", "Biologi", "BI"),
    subject!("GRGRFYS01", "Fysik", "FY"),
    subject!("GRGRKEM01", "Kemi", "KE"),
];

/// Social-science subjects; each school tests one of them in year 9.
pub(crate) const SO_SUBJECTS: [Subject; 4] = [
    subject!("GRGRGEO01", "Geografi", "GE"),
    subject!("GRGRHIS01", "Historia", "HI"),
    subject!("GRGRREL01", "Religionskunskap", "RE"),
    subject!("GRGRSAM01", "Samhällskunskap", "SH"),
];

/// GR subjects with a national test, per test year (SVA stands in for SVE
/// for pupils who read Swedish as a second language).
pub(crate) fn gr_test_subjects(year: u8) -> &'static [Subject] {
    match year {
        3 => &[MAT, SVE, SVA],
        6 => &[MAT, SVE, SVA, ENG],
        9 => &[
            MAT,
            SVE,
            SVA,
            ENG,
            NO_SUBJECTS[0],
            NO_SUBJECTS[1],
            NO_SUBJECTS[2],
            SO_SUBJECTS[0],
            SO_SUBJECTS[1],
            SO_SUBJECTS[2],
            SO_SUBJECTS[3],
        ],
        _ => &[],
    }
}

/// The stage (årskurs range of the syllabus) a GR year belongs to. Its last
/// year is the test year, which is how a school system's syllabus leads to
/// the test activity (`GRGRMAT01` 4–6 → `GRGRMAT01_6`).
pub(crate) fn stage(year: u8) -> (u8, u8) {
    match year {
        0..=3 => (1, 3),
        4..=6 => (4, 6),
        _ => (7, 9),
    }
}

/// A GY course.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Course {
    /// Course code, e.g. `MATMAT01c`.
    pub code: &'static str,
    /// Course name.
    pub name: &'static str,
    /// Subject code (three letters).
    pub subject: &'static str,
    /// Subject name.
    pub subject_name: &'static str,
    /// Whether a national test is given in the course.
    pub tested: bool,
}

macro_rules! course {
    ($code:literal, $name:literal, $subject:literal, $subject_name:literal, $tested:literal) => {
        Course {
            code: $code,
            name: $name,
            subject: $subject,
            subject_name: $subject_name,
            tested: $tested,
        }
    };
}

pub(crate) const MATMAT01A: Course = course!("MATMAT01a", "Matematik 1a", "MAT", "Matematik", true);
pub(crate) const MATMAT01B: Course = course!("MATMAT01b", "Matematik 1b", "MAT", "Matematik", true);
pub(crate) const MATMAT01C: Course = course!("MATMAT01c", "Matematik 1c", "MAT", "Matematik", true);
pub(crate) const MATMAT02B: Course = course!("MATMAT02b", "Matematik 2b", "MAT", "Matematik", true);
pub(crate) const MATMAT02C: Course = course!("MATMAT02c", "Matematik 2c", "MAT", "Matematik", true);
pub(crate) const MATMAT03C: Course = course!("MATMAT03c", "Matematik 3c", "MAT", "Matematik", true);
pub(crate) const SVESVE01: Course = course!("SVESVE01", "Svenska 1", "SVE", "Svenska", true);
pub(crate) const SVESVE02: Course = course!("SVESVE02", "Svenska 2", "SVE", "Svenska", false);
pub(crate) const SVESVE03: Course = course!("SVESVE03", "Svenska 3", "SVE", "Svenska", true);
pub(crate) const SVASVA01: Course = course!(
    "SVASVA01",
    "Svenska som andraspråk 1",
    "SVA",
    "Svenska som andraspråk",
    true
);
pub(crate) const SVASVA03: Course = course!(
    "SVASVA03",
    "Svenska som andraspråk 3",
    "SVA",
    "Svenska som andraspråk",
    true
);
pub(crate) const ENGENG05: Course = course!("ENGENG05", "Engelska 5", "ENG", "Engelska", true);
pub(crate) const ENGENG06: Course = course!("ENGENG06", "Engelska 6", "ENG", "Engelska", true);
pub(crate) const IDRIDR01: Course = course!(
    "IDRIDR01",
    "Idrott och hälsa 1",
    "IDR",
    "Idrott och hälsa",
    false
);

/// GY courses with national tests published as test activities. Some are
/// in the catalogue without being taught here (MATMAT02a, MATMAT03b), as in
/// a real municipality.
pub(crate) const GY_TEST_COURSES: [&str; 14] = [
    "MATMAT01a",
    "MATMAT01b",
    "MATMAT01c",
    "MATMAT02a",
    "MATMAT02b",
    "MATMAT02c",
    "MATMAT03b",
    "MATMAT03c",
    "SVESVE01",
    "SVESVE03",
    "SVASVA01",
    "SVASVA03",
    "ENGENG05",
    "ENGENG06",
];

/// Which track of mathematics a programme reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MathTrack {
    /// Vocational programmes: 1a only.
    A,
    /// Social science and economics: 1b, 2b.
    B,
    /// Natural science and technology: 1c, 2c, 3c.
    C,
}

/// A GY programme orientation (studieväg) with its education code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Orientation {
    /// Education code (studievägskod), e.g. `NANAT`.
    pub code: &'static str,
    /// Two-letter programme code, used in class names (`NA26A`).
    pub programme: &'static str,
    /// Name as open-data shows it.
    pub name: &'static str,
    /// Mathematics track.
    pub math: MathTrack,
    /// Whether the programme prepares for higher education (reads
    /// SVESVE03 and ENGENG06).
    pub academic: bool,
    /// Relative share of pupils.
    pub weight: u32,
}

macro_rules! orientation {
    ($code:literal, $programme:literal, $name:literal, $math:ident, $academic:literal, $weight:literal) => {
        Orientation {
            code: $code,
            programme: $programme,
            name: $name,
            math: MathTrack::$math,
            academic: $academic,
            weight: $weight,
        }
    };
}

/// The orientations offered in the municipality.
pub(crate) const ORIENTATIONS: [Orientation; 10] = [
    orientation!(
        "NANAT",
        "NA",
        "Naturvetenskapsprogrammet, Naturvetenskap",
        C,
        true,
        15
    ),
    orientation!("EKEKO", "EK", "Ekonomiprogrammet, Ekonomi", B, true, 12),
    orientation!(
        "SASAM",
        "SA",
        "Samhällsvetenskapsprogrammet, Samhällsvetenskap",
        B,
        true,
        12
    ),
    orientation!(
        "TETEK",
        "TE",
        "Teknikprogrammet, Teknikvetenskap",
        C,
        true,
        10
    ),
    orientation!(
        "BAHUS",
        "BA",
        "Bygg- och anläggningsprogrammet, Husbyggnad",
        A,
        false,
        8
    ),
    orientation!(
        "SABET",
        "SA",
        "Samhällsvetenskapsprogrammet, Beteendevetenskap",
        B,
        true,
        8
    ),
    orientation!("EKJUR", "EK", "Ekonomiprogrammet, Juridik", B, true, 6),
    orientation!(
        "TEINF",
        "TE",
        "Teknikprogrammet, Informations- och medieteknik",
        C,
        true,
        6
    ),
    orientation!(
        "NASAM",
        "NA",
        "Naturvetenskapsprogrammet, Naturvetenskap och samhälle",
        C,
        true,
        5
    ),
    orientation!(
        "EKJURV",
        "EK",
        "Ekonomiprogrammet, Juridik, särskild variant inom det estetiska området",
        B,
        true,
        2
    ),
];

/// The courses a class of `orientation` reads in GY year `year` (1–3), the
/// Swedish course replaced by its SVA course for second-language pupils.
/// Returns `(course, sva_alternative)` pairs.
pub(crate) fn gy_courses(o: &Orientation, year: u8) -> Vec<(Course, Option<Course>)> {
    let mut courses = Vec::with_capacity(4);
    match year {
        1 => {
            let math = match o.math {
                MathTrack::A => MATMAT01A,
                MathTrack::B => MATMAT01B,
                MathTrack::C => MATMAT01C,
            };
            courses.push((math, None));
            courses.push((SVESVE01, Some(SVASVA01)));
            courses.push((ENGENG05, None));
            courses.push((IDRIDR01, None));
        }
        2 => {
            match o.math {
                MathTrack::A => {}
                MathTrack::B => courses.push((MATMAT02B, None)),
                MathTrack::C => courses.push((MATMAT02C, None)),
            }
            courses.push((SVESVE02, None));
            if o.academic {
                courses.push((ENGENG06, None));
            }
        }
        3 => {
            if o.math == MathTrack::C {
                courses.push((MATMAT03C, None));
            }
            if o.academic {
                courses.push((SVESVE03, Some(SVASVA03)));
            }
        }
        _ => {}
    }
    courses
}

/// Every GR test activity name with its year, e.g. (`GRGRMAT01_6`, 6).
pub(crate) fn gr_test_activities() -> Vec<(String, u8)> {
    let mut names = Vec::new();
    for year in [3u8, 6, 9] {
        for subject in gr_test_subjects(year) {
            names.push((format!("{}_{year}", subject.code), year));
        }
    }
    names
}

/// Every GY test activity name (the course codes).
pub(crate) fn gy_test_activities() -> impl Iterator<Item = &'static str> {
    GY_TEST_COURSES.iter().copied()
}
