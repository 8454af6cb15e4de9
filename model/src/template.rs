//! Skolverket's file-upload template: its sheets and their columns.
//!
//! The template's readers (CSV files and the workbook, in `connectors`),
//! the upload-workbook sink and the sandbox's exports write and read the
//! same sheet names and headers; all take them from here, so a renamed
//! column is one edit and they cannot drift apart.

/// The sheet *Klasser* (classes).
pub const CLASSES_SHEET: &str = "Klasser";
/// The sheet *Ämnesgrupp & provaktiviteter* (subject groups and the test
/// activity each takes).
pub const SUBJECT_GROUPS_SHEET: &str = "Ämnesgrupp & provaktiviteter";
/// The sheet *Elevinskrivningar* (one row per pupil enrolment).
pub const STUDENTS_SHEET: &str = "Elevinskrivningar";
/// The sheet *Personalstjänstgöringar* (one row per staff duty).
pub const STAFF_SHEET: &str = "Personalstjänstgöringar";
/// The four sheets in the template's order.
pub const SHEETS: [&str; 4] = [
    CLASSES_SHEET,
    SUBJECT_GROUPS_SHEET,
    STUDENTS_SHEET,
    STAFF_SHEET,
];

/// The value of `Ta bort` that removes a row's entity (anything else, or
/// empty, keeps it).
pub const REMOVE_YES: &str = "Ja";

/// How a hand-filled workbook's leftover example row begins: a row whose
/// first non-empty cell starts with this (case-insensitively) is the
/// template's example, not data. The choice is skolsync's (Skolverket's
/// checklist only says to remove the example data); the sandbox writes
/// its example rows that way.
pub const EXAMPLE_MARKER: &str = "Exempel";

/// `Person-ID`: the person's id in the source (both person sheets).
pub const PERSON_ID: &str = "Person-ID";
/// `Tjänstgörings-ID`: the duty's id (staff sheet; derived when empty).
pub const DUTY_ID: &str = "Tjänstgörings-ID";
/// `Klass-ID`: the class's id (classes sheet).
pub const CLASS_ID: &str = "Klass-ID";
/// `Grupp-ID`: the subject group's id (subject groups sheet).
pub const GROUP_ID: &str = "Grupp-ID";
/// `Federationsanvändarnamn`: logins (EPPN), `,`/`;`-separated.
pub const EPPN: &str = "Federationsanvändarnamn";
/// `EduID-Federationsanvändarnamn`: the eduID login (staff sheet).
pub const EDUID_EPPN: &str = "EduID-Federationsanvändarnamn";
/// `Personnummer`.
pub const CIVIC_NO: &str = "Personnummer";
/// `Sekretessmarkering`: protected identity.
pub const SECURITY_MARKING: &str = "Sekretessmarkering";
/// `Förnamn`: given name.
pub const GIVEN_NAME: &str = "Förnamn";
/// `Mellannamn`: middle name.
pub const MIDDLE_NAME: &str = "Mellannamn";
/// `Efternamn`: family name.
pub const FAMILY_NAME: &str = "Efternamn";
/// `E-postadress`: e-mail address.
pub const EMAIL: &str = "E-postadress";
/// `Skolform`: school type.
pub const SCHOOL_TYPE: &str = "Skolform";
/// `Skolenhetskod`: school unit code.
pub const SCHOOL_UNIT_CODE: &str = "Skolenhetskod";
/// `Årskurs`: school year.
pub const SCHOOL_YEAR: &str = "Årskurs";
/// `Studievägskod`: programme code.
pub const EDUCATION_CODE: &str = "Studievägskod";
/// `Klass`: the class (its Klass-ID in the pupils sheet, its name in the
/// classes sheet).
pub const CLASS: &str = "Klass";
/// `Ämnesgrupper`: subject group ids, `,`/`;`-separated (person sheets).
pub const SUBJECT_GROUPS: &str = "Ämnesgrupper";
/// `Ämnesgrupp`: the subject group's name.
pub const SUBJECT_GROUP: &str = "Ämnesgrupp";
/// `Provaktivitetsnamn`: the national test the group takes.
pub const TEST_ACTIVITY: &str = "Provaktivitetsnamn";
/// `Personalkategori`: the duty's role.
pub const DUTY_ROLE: &str = "Personalkategori";
/// `Ta bort`: `Ja` removes the row's entity.
pub const REMOVE: &str = "Ta bort";

/// The header of *Klasser*.
pub const CLASSES_HEADER: [&str; 5] = [CLASS_ID, CLASS, SCHOOL_TYPE, SCHOOL_UNIT_CODE, REMOVE];
/// The header of *Ämnesgrupp & provaktiviteter*.
pub const SUBJECT_GROUPS_HEADER: [&str; 6] = [
    GROUP_ID,
    SUBJECT_GROUP,
    SCHOOL_TYPE,
    TEST_ACTIVITY,
    SCHOOL_UNIT_CODE,
    REMOVE,
];
/// The header of *Elevinskrivningar*.
pub const STUDENTS_HEADER: [&str; 15] = [
    PERSON_ID,
    EPPN,
    CIVIC_NO,
    SECURITY_MARKING,
    GIVEN_NAME,
    MIDDLE_NAME,
    FAMILY_NAME,
    EMAIL,
    SCHOOL_TYPE,
    SCHOOL_UNIT_CODE,
    SCHOOL_YEAR,
    EDUCATION_CODE,
    CLASS,
    SUBJECT_GROUPS,
    REMOVE,
];
/// The header of *Personalstjänstgöringar*.
pub const STAFF_HEADER: [&str; 14] = [
    DUTY_ID,
    PERSON_ID,
    EPPN,
    EDUID_EPPN,
    CIVIC_NO,
    SECURITY_MARKING,
    GIVEN_NAME,
    MIDDLE_NAME,
    FAMILY_NAME,
    EMAIL,
    SCHOOL_UNIT_CODE,
    DUTY_ROLE,
    SUBJECT_GROUPS,
    REMOVE,
];
