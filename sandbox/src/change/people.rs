//! The edits of a change set: pupils in and out of classes, staff and
//! their duties, group names.

use chrono::{Datelike, NaiveDate};
use rand::Rng;
use skolsync_model::codes::{DutyRole, EmailType, GroupType, SecurityMarking};
use skolsync_model::ss12000::{
    Activity, Duty, Email, Enrolment, EntityKind, Group, GroupMembership, Person, RawCivicNo,
    Reference, SourceId,
};
use uuid::Uuid;

use super::{ChangeError, Changes};
use crate::generate::REFERENCE_DATE;
use crate::generate::civic::{self, Kind};
use crate::generate::names::{self, ascii_fold, eppn_reveals_name};

/// Whether a membership or enrolment still holds on the data's "today".
fn current(end: Option<NaiveDate>) -> bool {
    end.is_none_or(|e| e >= REFERENCE_DATE)
}

/// Whether a group's name carries the class name as a word ("7A",
/// "7A MA", "Mentorsgrupp 7A"): the generator's (and many schools') way of
/// tying teaching and mentor groups to a class.
fn names_class(group: &Group, class_name: &str) -> bool {
    group
        .display_name
        .split_whitespace()
        .any(|w| w == class_name)
}

/// The part of an address after `marker` (`"@edu."` → the domain).
fn domain_after<'s>(address: &'s str, marker: &str) -> Option<&'s str> {
    address.split_once(marker).map(|(_, domain)| domain)
}

impl Changes<'_> {
    fn not_found(kind: EntityKind, id: &SourceId) -> ChangeError {
        ChangeError::NotFound {
            kind: kind.type_name(),
            id: id.as_str().to_string(),
        }
    }

    /// The class (a `Klass` group) `person` currently belongs to.
    fn class_of(&mut self, person: &SourceId) -> Option<usize> {
        self.groups_of(person).into_iter().find(|&g| {
            let group = &self.data.groups[g];
            group.group_type == GroupType::Klass
                && group
                    .group_memberships
                    .iter()
                    .any(|m| &m.person.id == person && current(m.end_date))
        })
    }

    /// A current pupil of the class at `class` other than `besides`: whom
    /// a newcomer is modelled on.
    fn classmate(&self, class: usize, besides: Option<&SourceId>) -> Option<SourceId> {
        let group = &self.data.groups[class];
        if group.group_type != GroupType::Klass {
            return None;
        }
        group
            .group_memberships
            .iter()
            .filter(|m| current(m.end_date) && Some(&m.person.id) != besides)
            .map(|m| m.person.id.clone())
            .find(|id| self.data.get::<Person>(id).is_some())
    }

    /// The class at `class` and the groups named after it at the same
    /// unit of which `member` is a current member, with that membership.
    fn class_groups_of(
        &mut self,
        class: usize,
        member: &SourceId,
    ) -> Vec<(usize, GroupMembership)> {
        let class_group = &self.data.groups[class];
        let (name, org) = (
            class_group.display_name.clone(),
            class_group.organisation.id.clone(),
        );
        self.groups_of(member)
            .into_iter()
            .filter_map(|g| {
                let group = &self.data.groups[g];
                if group.organisation.id != org || !names_class(group, &name) {
                    return None;
                }
                group
                    .group_memberships
                    .iter()
                    .find(|m| &m.person.id == member && current(m.end_date))
                    .map(|m| (g, m.clone()))
            })
            .collect()
    }

    /// Makes `person` a member of the groups `like` a classmate is in,
    /// with the classmate's membership dates.
    fn join_like(&mut self, person: &SourceId, like: Vec<(usize, GroupMembership)>) {
        for (g, membership) in like {
            self.data.groups[g].group_memberships.push(GroupMembership {
                person: Reference::to(person.as_str()),
                ..membership
            });
            self.note_membership(person, g);
            self.touch::<Group>(g);
        }
    }

    /// Removes every membership of `person` from the groups at `groups`.
    fn leave(&mut self, person: &SourceId, groups: &[usize]) {
        for &g in groups {
            let memberships = &mut self.data.groups[g].group_memberships;
            let before = memberships.len();
            memberships.retain(|m| &m.person.id != person);
            if memberships.len() != before {
                self.touch::<Group>(g);
            }
        }
    }

    /// A random version-4 UUID from the change set's stream.
    fn uuid(&mut self) -> Uuid {
        uuid::Builder::from_random_bytes(self.rng.random()).into_uuid()
    }

    /// A new, unique personnummer for someone born on `birth`.
    fn civic_no(&mut self, mut birth: NaiveDate) -> civic::Generated {
        loop {
            for _ in 0..200 {
                let number =
                    civic::build(birth, Kind::Personnummer, self.rng.random_range(0..1000));
                if self.take_civic_no(&number.value) {
                    return number;
                }
            }
            // A crowded day: try the next one.
            birth = birth.succ_opt().unwrap_or(birth);
        }
    }

    /// A name from the generator's lists for the sex `male`.
    fn name(&mut self, male: bool) -> (String, String) {
        let pool = if male {
            names::MALE_GIVEN
        } else {
            names::FEMALE_GIVEN
        };
        let given = pool[self.rng.random_range(0..pool.len())];
        let family = names::FAMILY[self.rng.random_range(0..names::FAMILY.len())];
        (given.to_string(), family.to_string())
    }

    /// An EPPN under `domain` that does not reveal the name.
    fn eppn(&mut self, domain: &str, given: &str, family: &str) -> String {
        loop {
            let eppn = format!("{}@edu.{domain}", self.uuid().hyphenated());
            if !eppn_reveals_name(&eppn, given, family) {
                return eppn;
            }
        }
    }

    /// Adds a new pupil to the class `class`, modelled on a classmate: the
    /// same enrolment and the same class-named groups, with a new identity.
    /// Returns the new person's id.
    pub fn add_pupil(&mut self, class: &SourceId) -> Result<SourceId, ChangeError> {
        let c = self.group_pos(class)?;
        let not_a_class = || ChangeError::NotAClass(class.as_str().to_string());
        let model_id = self.classmate(c, None).ok_or_else(not_a_class)?;
        let model = self
            .data
            .get::<Person>(&model_id)
            .cloned()
            .ok_or_else(not_a_class)?;
        let birth = model
            .civic_no
            .as_ref()
            .and_then(|c| birth_date(&c.value))
            .unwrap_or(REFERENCE_DATE - chrono::Days::new(10 * 365));
        let number = self.civic_no(birth);
        let (given, family) = self.name(number.male);
        let (eppn_domain, email_domain) = domains_like(&model, "elev.sandbox.invalid");
        let eppn = self.eppn(&eppn_domain, &given, &family);
        let serial = self.data.persons.len();
        let id = SourceId::new(self.uuid().to_string());
        let person = Person {
            id: id.clone(),
            given_name: given.clone(),
            middle_name: None,
            family_name: family.clone(),
            edu_person_principal_names: vec![eppn],
            external_identifiers: Vec::new(),
            civic_no: Some(RawCivicNo {
                value: number.value,
                nationality: Some("SE".to_string()),
            }),
            security_marking: Some(SecurityMarking::Ingen),
            emails: vec![Email {
                value: format!(
                    "{}.{}{serial}@{email_domain}",
                    ascii_fold(&given),
                    ascii_fold(&family)
                ),
                email_type: Some(EmailType::SkolaElev),
            }],
            enrolments: current_enrolments(&model),
            ..model
        };
        self.create(person);
        let like = self.class_groups_of(c, &model_id);
        self.join_like(&id, like);
        Ok(id)
    }

    /// Moves `pupil` to the class `to`: out of the current class and the
    /// groups named after it, into `to` and the groups named after it that
    /// a pupil of `to` is in. Memberships are moved, not ended, so the move
    /// shows on any day. When the new class is at another unit or in
    /// another year, the pupil's current enrolment becomes the one of a
    /// pupil of `to`.
    pub fn move_pupil(&mut self, pupil: &SourceId, to: &SourceId) -> Result<(), ChangeError> {
        let p = self.person_pos(pupil)?;
        let from = self
            .class_of(pupil)
            .ok_or_else(|| ChangeError::NotAPupil(pupil.as_str().to_string()))?;
        let t = self.group_pos(to)?;
        if from == t {
            return Ok(());
        }
        let model_id = self
            .classmate(t, Some(pupil))
            .ok_or_else(|| ChangeError::NotAClass(to.as_str().to_string()))?;
        let old: Vec<usize> = self
            .class_groups_of(from, pupil)
            .into_iter()
            .map(|(g, _)| g)
            .collect();
        self.leave(pupil, &old);
        let like = self.class_groups_of(t, &model_id);
        self.join_like(pupil, like);

        let model = self
            .data
            .get::<Person>(&model_id)
            .map(current_enrolments)
            .unwrap_or_default();
        let person = &mut self.data.persons[p];
        let mine = current_enrolments(person);
        if !model.is_empty() && !same_place(&mine, &model) {
            person.enrolments.retain(|e| !current(e.end_date));
            person.enrolments.extend(model);
            self.touch::<Person>(p);
        }
        Ok(())
    }

    /// Removes a pupil from the source; see [`Changes::remove_person`].
    pub fn remove_pupil(&mut self, pupil: &SourceId) -> Result<(), ChangeError> {
        self.person_pos(pupil)?;
        if self.class_of(pupil).is_none() {
            return Err(ChangeError::NotAPupil(pupil.as_str().to_string()));
        }
        self.remove_person(pupil)
    }

    /// Removes a person as a school system does: out of every group, their
    /// duties deleted and taken off the activities they taught, and the
    /// person deleted. Deletions are logged for `/deletedEntities`.
    pub fn remove_person(&mut self, person: &SourceId) -> Result<(), ChangeError> {
        self.person_pos(person)?;
        let groups = self.groups_of(person);
        self.leave(person, &groups);
        let duties: Vec<SourceId> = self
            .data
            .duties
            .iter()
            .filter(|d| d.person.as_ref().is_some_and(|r| &r.id == person))
            .map(|d| d.id.clone())
            .collect();
        for duty in &duties {
            self.unassign(duty);
            self.remove(EntityKind::Duty, duty);
        }
        self.remove(EntityKind::Person, person);
        Ok(())
    }

    /// Takes `duty` off every activity it teaches.
    fn unassign(&mut self, duty: &SourceId) {
        let teaching: Vec<usize> = self
            .data
            .activities
            .iter()
            .enumerate()
            .filter(|(_, a)| {
                a.teachers
                    .iter()
                    .any(|t| t.duty.as_ref().is_some_and(|d| &d.id == duty))
            })
            .map(|(i, _)| i)
            .collect();
        for a in teaching {
            self.data.activities[a]
                .teachers
                .retain(|t| t.duty.as_ref().is_none_or(|d| &d.id != duty));
            self.touch::<Activity>(a);
        }
    }

    /// Gives a person a new name (a marriage, a corrected spelling).
    pub fn rename_person(
        &mut self,
        person: &SourceId,
        given: &str,
        family: &str,
    ) -> Result<(), ChangeError> {
        let p = self.person_pos(person)?;
        let record = &mut self.data.persons[p];
        record.given_name = given.to_string();
        record.family_name = family.to_string();
        self.touch::<Person>(p);
        Ok(())
    }

    /// Adds a staff member with one duty of `role` at the school unit
    /// `unit`, starting on the data's "today", modelled on someone already
    /// working there (addresses at the same domain). Returns the person's
    /// and the duty's ids.
    pub fn add_staff(
        &mut self,
        unit: &SourceId,
        role: DutyRole,
    ) -> Result<(SourceId, SourceId), ChangeError> {
        let not_a_unit = || ChangeError::NotASchoolUnit(unit.as_str().to_string());
        let model = self
            .data
            .duties
            .iter()
            .filter(|d| &d.duty_at.id == unit)
            .find_map(|d| d.person.as_ref())
            .and_then(|r| self.data.get::<Person>(&r.id))
            .cloned()
            .ok_or_else(not_a_unit)?;
        let birth_year = self.rng.random_range(1960..=2000);
        let birth = NaiveDate::from_yo_opt(birth_year, self.rng.random_range(1..=365))
            .unwrap_or(REFERENCE_DATE);
        let number = self.civic_no(birth);
        let (given, family) = self.name(number.male);
        let (eppn_domain, email_domain) = domains_like(&model, "sandbox.invalid");
        let eppn = self.eppn(&eppn_domain, &given, &family);
        let person_id = SourceId::new(self.uuid().to_string());
        // The uuid's first block keeps the address unique without a scan.
        let tag: String = person_id.as_str().chars().take(4).collect();
        let email = format!(
            "{}.{}.{tag}@{email_domain}",
            ascii_fold(&given),
            ascii_fold(&family)
        );
        let signature: String = given
            .chars()
            .take(2)
            .chain(family.chars().take(1))
            .flat_map(char::to_uppercase)
            .collect();
        self.create(Person {
            id: person_id.clone(),
            given_name: given,
            middle_name: None,
            family_name: family,
            edu_person_principal_names: vec![eppn],
            external_identifiers: Vec::new(),
            civic_no: Some(RawCivicNo {
                value: number.value,
                nationality: Some("SE".to_string()),
            }),
            security_marking: Some(SecurityMarking::Ingen),
            emails: vec![Email {
                value: email,
                email_type: Some(EmailType::SkolaPersonal),
            }],
            enrolments: Vec::new(),
            ..model
        });
        let duty_id = SourceId::new(self.uuid().to_string());
        self.create(Duty {
            id: duty_id.clone(),
            meta: Default::default(),
            person: Some(Reference::to(person_id.as_str())),
            duty_at: Reference::to(unit.as_str()),
            duty_role: role.as_str().to_string(),
            signature: Some(signature),
            start_date: Some(REFERENCE_DATE),
            end_date: None,
        });
        Ok((person_id, duty_id))
    }

    /// Ends a duty on `on` (its last day).
    pub fn end_duty(&mut self, duty: &SourceId, on: NaiveDate) -> Result<(), ChangeError> {
        let d = self
            .data
            .duties
            .iter()
            .position(|d| &d.id == duty)
            .ok_or_else(|| Self::not_found(EntityKind::Duty, duty))?;
        self.data.duties[d].end_date = Some(on);
        self.touch::<Duty>(d);
        Ok(())
    }

    /// Renames a group.
    pub fn rename_group(&mut self, group: &SourceId, name: &str) -> Result<(), ChangeError> {
        let g = self.group_pos(group)?;
        self.data.groups[g].display_name = name.to_string();
        self.touch::<Group>(g);
        Ok(())
    }
}

/// The birth date a personnummer or samordningsnummer encodes.
fn birth_date(civic_no: &str) -> Option<NaiveDate> {
    let digits = civic_no.get(..8)?;
    let year: i32 = digits.get(..4)?.parse().ok()?;
    let month: u32 = digits.get(4..6)?.parse().ok()?;
    let mut day: u32 = digits.get(6..8)?.parse().ok()?;
    if day > 60 {
        day -= 60;
    }
    NaiveDate::from_ymd_opt(year, month, day).filter(|d| d.year() > 1900)
}

/// A person's enrolments that still hold.
fn current_enrolments(person: &Person) -> Vec<Enrolment> {
    person
        .enrolments
        .iter()
        .filter(|e| current(e.end_date))
        .cloned()
        .collect()
}

/// Whether two sets of enrolments put a pupil at the same unit, school
/// type, year and programme.
fn same_place(a: &[Enrolment], b: &[Enrolment]) -> bool {
    let key = |e: &Enrolment| {
        (
            e.enroled_at.id.clone(),
            e.school_type.clone(),
            e.school_year,
            e.education_code.clone(),
        )
    };
    a.len() == b.len() && a.iter().map(key).eq(b.iter().map(key))
}

/// The EPPN domain (after `@edu.`) and e-mail domain of `model`, a person
/// the new one is modelled on; `email_fallback` when it has no address.
fn domains_like(model: &Person, email_fallback: &str) -> (String, String) {
    let eppn = model
        .edu_person_principal_names
        .iter()
        .find_map(|e| domain_after(e, "@edu."))
        .unwrap_or("sandbox.invalid");
    let email = model
        .emails
        .iter()
        .find_map(|e| domain_after(&e.value, "@"))
        .unwrap_or(email_fallback);
    (eppn.to_string(), email.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn birth_dates_come_from_both_number_kinds() {
        let d = NaiveDate::from_ymd_opt(2015, 3, 4).unwrap();
        assert_eq!(birth_date("201503041234"), Some(d));
        assert_eq!(birth_date("201503641234"), Some(d));
        assert_eq!(birth_date("2015"), None);
    }
}
