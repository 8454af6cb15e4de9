//! Code lists (value sets) shared by SS 12000 v2 and the provtjänst profile.
//!
//! Every code is a Rust enum whose serialised form is the spec's exact value,
//! Swedish where the spec is Swedish (`"Undervisning"`, `"Skola elev"`).
//! Parsing is forgiving about what real exports get wrong (surrounding
//! whitespace, letter case) but never guesses: an unknown value is an
//! [`UnknownCode`] error that names the code list and the value. School
//! types are the exception: sources send values from several generations
//! of the list, so [`SourceSchoolType`] keeps an unknown one as text and
//! the transform rejects only the enrolment that carries it.

use std::fmt;
use std::str::FromStr;

/// A value that is not in a code list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {code_list} value `{value}` (expected one of: {expected})")]
pub struct UnknownCode {
    /// The spec's name of the code list, e.g. `Code_GroupType`.
    pub code_list: &'static str,
    /// The value as it was received.
    pub value: String,
    /// The valid values, comma separated, for the error message.
    pub expected: String,
}

/// Defines a code-list enum with exact spec values, `FromStr`, `Display` and
/// serde support that reports unknown values with [`UnknownCode`].
macro_rules! code_list {
    (
        $(#[$meta:meta])*
        $name:ident, $code_list:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every value of the code list, in the spec's order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The spec's name of this code list.
            pub const CODE_LIST: &'static str = $code_list;

            /// The exact value the spec uses.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $value),+
                }
            }
        }

        impl FromStr for $name {
            type Err = UnknownCode;

            fn from_str(raw: &str) -> Result<Self, Self::Err> {
                let trimmed = raw.trim();
                $(
                    if trimmed == $value {
                        return Ok($name::$variant);
                    }
                )+
                // Exports from school systems sometimes change the case
                // ("undervisning", "KLASS"); accept that, nothing looser.
                $(
                    if trimmed.to_lowercase() == $value.to_lowercase() {
                        return Ok($name::$variant);
                    }
                )+
                Err(UnknownCode {
                    code_list: $code_list,
                    value: raw.to_string(),
                    expected: [$($value),+].join(", "),
                })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(deserializer)?;
                raw.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

code_list! {
    /// School type (skolform, `Code_SchoolType`) as SS 12000 sources send it.
    ///
    /// The union of the SS 12000 v2 list (`ss12000v2/common.yaml`
    /// `SchoolTypesEnum`, which has `KOMVUX`) and the newer list of
    /// Skolverket's own SS 12000 subset (`skolverket-ss12000-subset.openapi.yml`
    /// `SchoolTypesEnum`: `TR`, `VUX`, `VUXSFI`, `VUXGR`, `VUXGY`, `VUXSARGR`,
    /// `VUXSARTR`, `VUXSARGY`, `SARVUXGR`, `SARVUXGY`) and of open-data's
    /// `Code_SchoolType` (`GRAN`, `GYAN`, `VUXGRAN`, `VUXGYAN`). Values outside
    /// all three are kept as text by [`SourceSchoolType`].
    Ss12000SchoolType, "Code_SchoolType" {
        /// Förskola.
        Fs = "FS",
        /// Förskoleklass.
        Fklass = "FKLASS",
        /// Fritidshem.
        Fth = "FTH",
        /// Öppen fritidsverksamhet.
        Oppfth = "OPPFTH",
        /// Grundskola.
        Gr = "GR",
        /// Anpassad grundskola (open-data).
        Gran = "GRAN",
        /// Grundsärskola.
        Grs = "GRS",
        /// Träningsskolan.
        Tr = "TR",
        /// Specialskola.
        Sp = "SP",
        /// Sameskola.
        Sam = "SAM",
        /// Gymnasieskola.
        Gy = "GY",
        /// Anpassad gymnasieskola (open-data).
        Gyan = "GYAN",
        /// Gymnasiesärskola.
        Gys = "GYS",
        /// Kommunal vuxenutbildning på grundläggande och gymnasial nivå
        /// (SS 12000 v2's older value; both levels, see [`SchoolType`]'s mapping).
        Komvux = "KOMVUX",
        /// Kommunal vuxenutbildning (no level given).
        Vux = "VUX",
        /// Kommunal vuxenutbildning i svenska för invandrare.
        Vuxsfi = "VUXSFI",
        /// Kommunal vuxenutbildning på grundläggande nivå.
        Vuxgr = "VUXGR",
        /// Kommunal vuxenutbildning på gymnasial nivå.
        Vuxgy = "VUXGY",
        /// Kommunal vuxenutbildning som anpassad utbildning på grundläggande nivå (open-data).
        Vuxgran = "VUXGRAN",
        /// Kommunal vuxenutbildning som särskild utbildning på grundläggande nivå.
        Vuxsargr = "VUXSARGR",
        /// Kommunal vuxenutbildning som särskild utbildning som motsvarar träningsskolan.
        Vuxsartr = "VUXSARTR",
        /// Kommunal vuxenutbildning som anpassad utbildning på gymnasial nivå (open-data).
        Vuxgyan = "VUXGYAN",
        /// Kommunal vuxenutbildning som särskild utbildning på gymnasial nivå.
        Vuxsargy = "VUXSARGY",
        /// Särskild utbildning för vuxna.
        Sarvux = "SARVUX",
        /// Särskild utbildning för vuxna på grundläggande nivå.
        Sarvuxgr = "SARVUXGR",
        /// Särskild utbildning för vuxna på gymnasial nivå.
        Sarvuxgy = "SARVUXGY",
        /// Svenska för invandrare.
        Sfi = "SFI",
        /// Kulturskola.
        Ku = "KU",
        /// Yrkeshögskola.
        Yh = "YH",
        /// Folkhögskola.
        Fhs = "FHS",
        /// Studieförbund.
        Stf = "STF",
        /// Konst- och kulturutbildning.
        Kku = "KKU",
        /// Högskola.
        Hs = "HS",
        /// Arbetsmarknadsutbildning.
        Abu = "ABU",
        /// Annan undervisning.
        Au = "AU",
    }
}

impl Ss12000SchoolType {
    /// Whether the value names adult education without saying its level
    /// (`KOMVUX`: "på grundläggande och gymnasial nivå", SS 12000 v2
    /// `common.yaml`; `VUX`: "Kommunal vuxenutbildning", Skolverket's subset).
    /// Such an enrolment may or may not be the profile's `VUXGY`.
    pub const fn is_adult_education_of_unknown_level(self) -> bool {
        matches!(self, Ss12000SchoolType::Komvux | Ss12000SchoolType::Vux)
    }
}

/// A school type as a source sent it: a value of [`Ss12000SchoolType`], or
/// the text of one that is in no list skolsync knows.
///
/// Why a wrapper: a new or misspelt value must not make a whole Person,
/// Group or school unit unreadable; the transform makes only the enrolment
/// (or group) that carries it a reject, naming the value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SourceSchoolType {
    /// A known value.
    Known(Ss12000SchoolType),
    /// Any other value, as received (trimmed).
    Other(String),
}

impl SourceSchoolType {
    /// The known value, if it is one.
    pub fn known(&self) -> Option<Ss12000SchoolType> {
        match self {
            SourceSchoolType::Known(t) => Some(*t),
            SourceSchoolType::Other(_) => None,
        }
    }

    /// The value as the source wrote it (known values in their exact form).
    pub fn as_str(&self) -> &str {
        match self {
            SourceSchoolType::Known(t) => t.as_str(),
            SourceSchoolType::Other(raw) => raw,
        }
    }

    /// The profile's school type, when this value is one (see
    /// `TryFrom<Ss12000SchoolType> for SchoolType`).
    pub fn profile(&self) -> Option<SchoolType> {
        self.known().and_then(|t| SchoolType::try_from(t).ok())
    }
}

impl From<Ss12000SchoolType> for SourceSchoolType {
    fn from(value: Ss12000SchoolType) -> Self {
        SourceSchoolType::Known(value)
    }
}

impl PartialEq<Ss12000SchoolType> for SourceSchoolType {
    fn eq(&self, other: &Ss12000SchoolType) -> bool {
        self.known() == Some(*other)
    }
}

impl FromStr for SourceSchoolType {
    type Err = std::convert::Infallible;

    /// Never fails: what is not a known value is kept as text.
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Ok(match raw.parse::<Ss12000SchoolType>() {
            Ok(t) => SourceSchoolType::Known(t),
            Err(_) => SourceSchoolType::Other(raw.trim().to_string()),
        })
    }
}

impl fmt::Display for SourceSchoolType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for SourceSchoolType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for SourceSchoolType {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(deserializer)?;
        let Ok(value) = raw.parse::<SourceSchoolType>();
        Ok(value)
    }
}

code_list! {
    /// School type in the provtjänst profile (`Code_SchoolType` of the
    /// Provisioning API): the only forms that take digital national tests.
    SchoolType, "Code_SchoolType" {
        /// Grundskola.
        Gr = "GR",
        /// Specialskola.
        Sp = "SP",
        /// Sameskola.
        Sam = "SAM",
        /// Gymnasieskola.
        Gy = "GY",
        /// Kommunal vuxenutbildning på gymnasial nivå.
        Vuxgy = "VUXGY",
    }
}

impl SchoolType {
    /// School types where a school year 1–10 is required (GR, SP, SAM).
    pub const fn requires_school_year(self) -> bool {
        matches!(self, SchoolType::Gr | SchoolType::Sp | SchoolType::Sam)
    }

    /// School types whose test activities are courses, not subject + year.
    pub const fn is_course_based(self) -> bool {
        matches!(self, SchoolType::Gy | SchoolType::Vuxgy)
    }
}

code_list! {
    /// Group type (`Code_GroupType`), identical in SS 12000 and the profile.
    GroupType, "Code_GroupType" {
        /// A teaching group tied to a subject or course.
        Undervisning = "Undervisning",
        /// A class.
        Klass = "Klass",
        /// A mentor group.
        Mentor = "Mentor",
        /// A test group.
        Provgrupp = "Provgrupp",
        /// A schedule group.
        Schema = "Schema",
        /// A department (preschool, leisure centre).
        Avdelning = "Avdelning",
        /// A staff group.
        Personalgrupp = "Personalgrupp",
        /// Anything else.
        Ovrigt = "Övrigt",
    }
}

code_list! {
    /// Activity type (`Code_ActivityType`).
    ActivityType, "Code_ActivityType" {
        /// Scheduled teaching; the only type the provtjänst takes.
        Undervisning = "Undervisning",
        /// Pupil activity outside the timetable.
        Elevaktivitet = "Elevaktivitet",
        /// Test occasion.
        Provaktivitet = "Provaktivitet",
        /// Teacher activity.
        Lararaktivitet = "Läraraktivitet",
        /// Anything else.
        Ovrigt = "Övrigt",
    }
}

code_list! {
    /// Duty role in the provtjänst profile (`Code_DutyRole`, Skolverket's
    /// vocabulary `code-duty-role`).
    DutyRole, "Code_DutyRole" {
        /// Principal.
        Rektor = "Rektor",
        /// Teacher.
        Larare = "Lärare",
        /// Preschool teacher.
        Forskollarare = "Förskollärare",
        /// Childminder.
        Barnskotare = "Barnskötare",
        /// Librarian.
        Bibliotekarie = "Bibliotekarie",
        /// Teaching assistant.
        Lararassistent = "Lärarassistent",
        /// Leisure-time teacher.
        Fritidspedagog = "Fritidspedagog",
        /// Other staff.
        AnnanPersonal = "Annan personal",
        /// Study and career counsellor.
        StudieOchYrkesvagledare = "Studie- och yrkesvägledare",
        /// Lead teacher.
        Forstelarare = "Förstelärare",
        /// Counsellor.
        Kurator = "Kurator",
        /// School nurse.
        Skolskoterska = "Skolsköterska",
        /// School doctor.
        Skollakare = "Skolläkare",
        /// School psychologist.
        Skolpsykolog = "Skolpsykolog",
        /// Special needs teacher.
        Speciallarare = "Speciallärare/specialpedagog",
        /// School administrator.
        Skoladministrator = "Skoladministratör",
        /// Other management.
        OvrigArbetsledning = "Övrig arbetsledning",
    }
}

code_list! {
    /// E-mail address type (`Code_EmailType`).
    EmailType, "Code_EmailType" {
        /// Private address.
        Privat = "Privat",
        /// A pupil's school address.
        SkolaElev = "Skola elev",
        /// A staff member's school address.
        SkolaPersonal = "Skola personal",
        /// Staff address for other work.
        ArbeteOvrigt = "Arbete övrigt",
    }
}

code_list! {
    /// Security marking from the population register (`Code_SecurityMarking`).
    SecurityMarking, "Code_SecurityMarking" {
        /// No marking.
        Ingen = "Ingen",
        /// Confidentiality marking.
        Sekretessmarkering = "Sekretessmarkering",
        /// Protected registration.
        SkyddadFolkbokforing = "Skyddad folkbokföring",
    }
}

code_list! {
    /// Organisation type in SS 12000 (`Code_OrganisationType`).
    OrganisationType, "Code_OrganisationType" {
        /// The school organiser (huvudman).
        Huvudman = "Huvudman",
        /// City district.
        Stadsdel = "Stadsdel",
        /// Principal's area.
        Rektorsomrade = "Rektorsområde",
        /// School.
        Skola = "Skola",
        /// School unit, identified by a school unit code.
        Skolenhet = "Skolenhet",
        /// Anything else.
        Ovrigt = "Övrigt",
    }
}

code_list! {
    /// Whether a person is active in the population register (`Code_PersonStatus`).
    PersonStatus, "Code_PersonStatus" {
        /// Active.
        Aktiv = "Aktiv",
        /// Emigrated.
        Utvandrad = "Utvandrad",
        /// Deceased.
        Avliden = "Avliden",
    }
}

code_list! {
    /// Kinds of resource the provtjänst knows (`Code_ObjectType`).
    ObjectType, "Code_ObjectType" {
        /// Person.
        Person = "Person",
        /// Duty.
        Duty = "Duty",
        /// Group.
        Group = "Group",
        /// Activity.
        Activity = "Activity",
    }
}

code_list! {
    /// Severity of a provtjänst log entry.
    SeverityLevel, "severityLevel" {
        /// Accepted, but something should be fixed.
        Warning = "Warning",
        /// Not accepted.
        Error = "Error",
    }
}

code_list! {
    /// Status of one entity in an asynchronous bulk job.
    JobEntityStatus, "AsynchronousResponse.status" {
        /// Not processed yet.
        Pending = "Pending",
        /// Accepted.
        Success = "Success",
        /// Rejected.
        Error = "Error",
        /// Accepted with warnings.
        Warning = "Warning",
        /// Interrupted by a temporary fault; send again later.
        TemporaryError = "TemporaryError",
    }
}

impl JobEntityStatus {
    /// Whether the entity has reached an outcome (anything but `Pending`).
    pub const fn is_final(self) -> bool {
        !matches!(self, JobEntityStatus::Pending)
    }

    /// Whether the service accepted the entity (`Success` or `Warning`).
    pub const fn is_accepted(self) -> bool {
        matches!(self, JobEntityStatus::Success | JobEntityStatus::Warning)
    }
}

impl TryFrom<Ss12000SchoolType> for SchoolType {
    type Error = UnknownCode;

    /// The profile's school types are the five the Provisioning API's
    /// `Code_SchoolType` lists ("de utbildningsformer som är tillåtna för
    /// digitala nationella prov (DNP) är `GR`, `GY`, `SP`, `SAM` och
    /// `VUXGY`", open-data `Code_SchoolType`), each the same value in SS 12000.
    ///
    /// `KOMVUX` and `VUX` are not mapped: SS 12000 v2 defines `KOMVUX` as
    /// "Kommunal vuxenutbildning på grundläggande och gymnasial nivå" and the
    /// subset's `VUX` names no level, so either may be `VUXGR` (no national
    /// tests) as well as `VUXGY`. Not documented how Skolverket treats them;
    /// chosen because guessing would provision adults at grundläggande level
    /// as gymnasial ones. The transform reports such an enrolment so the
    /// source can send `VUXGY`.
    fn try_from(value: Ss12000SchoolType) -> Result<Self, Self::Error> {
        match value {
            Ss12000SchoolType::Gr => Ok(SchoolType::Gr),
            Ss12000SchoolType::Sp => Ok(SchoolType::Sp),
            Ss12000SchoolType::Sam => Ok(SchoolType::Sam),
            Ss12000SchoolType::Gy => Ok(SchoolType::Gy),
            Ss12000SchoolType::Vuxgy => Ok(SchoolType::Vuxgy),
            other => Err(UnknownCode {
                code_list: "Code_SchoolType (provtjänst)",
                value: other.as_str().to_string(),
                expected: SchoolType::ALL
                    .iter()
                    .map(|t| t.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_values_round_trip_through_json() {
        for role in DutyRole::ALL {
            let json = serde_json::to_string(role).unwrap();
            let back: DutyRole = serde_json::from_str(&json).unwrap();
            assert_eq!(*role, back);
        }
        assert_eq!(
            serde_json::to_string(&EmailType::SkolaElev).unwrap(),
            "\"Skola elev\""
        );
        assert_eq!(
            serde_json::to_string(&DutyRole::Speciallarare).unwrap(),
            "\"Speciallärare/specialpedagog\""
        );
    }

    #[test]
    fn case_and_whitespace_variation_is_accepted() {
        assert_eq!(
            " undervisning ".parse::<GroupType>(),
            Ok(GroupType::Undervisning)
        );
        assert_eq!("KLASS".parse::<GroupType>(), Ok(GroupType::Klass));
        assert_eq!("övrigt".parse::<ActivityType>(), Ok(ActivityType::Ovrigt));
    }

    #[test]
    fn unknown_value_is_a_typed_error_naming_the_value() {
        let err = "Lektion".parse::<ActivityType>().unwrap_err();
        assert_eq!(err.value, "Lektion");
        assert_eq!(err.code_list, "Code_ActivityType");
        let msg = serde_json::from_str::<GroupType>("\"Studiegrupp\"")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("Studiegrupp"), "{msg}");
        assert!(msg.contains("Code_GroupType"), "{msg}");
    }

    #[test]
    fn vuxgy_maps_to_the_profile_and_komvux_vux_and_preschool_do_not() {
        assert_eq!(
            SchoolType::try_from(Ss12000SchoolType::Vuxgy),
            Ok(SchoolType::Vuxgy)
        );
        for t in [
            Ss12000SchoolType::Komvux,
            Ss12000SchoolType::Vux,
            Ss12000SchoolType::Vuxgr,
            Ss12000SchoolType::Fs,
        ] {
            assert!(SchoolType::try_from(t).is_err(), "{t}");
        }
        assert!(Ss12000SchoolType::Komvux.is_adult_education_of_unknown_level());
        assert!(!Ss12000SchoolType::Vuxgy.is_adult_education_of_unknown_level());
    }

    #[test]
    fn every_subset_and_open_data_value_is_known() {
        for raw in [
            "TR", "VUX", "VUXSFI", "VUXGR", "VUXGY", "VUXSARGR", "VUXSARTR", "VUXSARGY",
            "SARVUXGR", "SARVUXGY", "GRAN", "GYAN", "VUXGRAN", "VUXGYAN", "KOMVUX",
        ] {
            let t: SourceSchoolType = serde_json::from_str(&format!("\"{raw}\"")).unwrap();
            assert_eq!(t.as_str(), raw);
            assert!(t.known().is_some(), "{raw}");
        }
    }

    #[test]
    fn an_unknown_school_type_is_kept_as_text() {
        let t: SourceSchoolType = serde_json::from_str("\" GYVUX \"").unwrap();
        assert_eq!(t, SourceSchoolType::Other("GYVUX".to_string()));
        assert_eq!(t.known(), None);
        assert_eq!(t.profile(), None);
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"GYVUX\"");
        let gr: SourceSchoolType = serde_json::from_str("\"gr\"").unwrap();
        assert_eq!(gr, Ss12000SchoolType::Gr);
        assert_eq!(gr.profile(), Some(SchoolType::Gr));
    }
}
