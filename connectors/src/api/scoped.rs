//! The read with a school unit filter (`school_units`).
//!
//! The organisations are read in full first (the filter is computed from
//! them), then the duties in full (a staff member belongs to a unit through
//! a duty, even one that did not change), then persons, groups and
//! activities, of which those outside the filter are left out.
//!
//! On an incremental read the organisations and duties in scope all go out,
//! announced [`Batch::ListedInFull`]: a cached copy then drops the ones
//! that left the scope. Persons, groups and activities go out when they
//! changed; a changed one now outside the scope goes out as a deletion (a
//! pupil who moved to another school leaves the cached copy, one who moved
//! in arrives). A staff member can enter or leave the scope through a duty
//! without their own record changing, so the holders of changed duties are
//! fetched one by one (`GET /persons/{id}`) and sent, or sent as deleted
//! when now outside; when too many duties changed for that, the persons
//! are listed in full instead.

use std::sync::Arc;

use skolsync_model::reject::{Reject, Stage};
use skolsync_model::ss12000::{
    Duty, Entity, EntityKind, Organisation, Person, SourceId, parse_entity,
};

use super::http::redact;
use super::listing::{Dest, Filter, Listed, Sent, predates};
use super::scope::Scope;
use super::{ApiEntity, Run, retain_in_scope};
use crate::error::SourceError;
use crate::source::Batch;

/// Most staff members fetched one by one on an incremental read; past it
/// the persons are listed in full.
const MAX_STAFF_LOOKUPS: usize = 100;

/// Why organisations and duties are listed in full under the filter.
const IN_FULL_FOR_SCOPE: &str = "read in full for the school unit filter (school_units)";

impl Run {
    /// The read with a school unit filter.
    pub(super) async fn read_scoped(&self) -> Result<(), SourceError> {
        let settings = &self.reader.settings;
        let has = |k: EntityKind| settings.resources.contains(&k);
        let mut organisations = Vec::new();
        let independent: Vec<EntityKind> = [EntityKind::Programme, EntityKind::Syllabus]
            .into_iter()
            .filter(|k| has(*k))
            .collect();
        let (orgs, others) = futures::join!(
            self.list::<Organisation>(Filter::None, Dest::Collect(&mut organisations)),
            self.read_kinds(&independent, None)
        );
        orgs?;
        others?;
        let mut scope =
            Scope::new(&organisations, &settings.school_units).map_err(SourceError::Scope)?;
        // Organisations are few; all in scope go out, changed or not.
        retain_in_scope(&mut organisations, &scope);
        self.emit_chunked(organisations).await?;
        self.in_full_for_scope(EntityKind::Organisation).await?;

        let mut staff_changed = Vec::new();
        if has(EntityKind::Person) || has(EntityKind::Duty) {
            let mut duties = Vec::new();
            self.list::<Duty>(Filter::None, Dest::Collect(&mut duties))
                .await?;
            if let Some(after) = self.after {
                staff_changed = holders_of_changed(&duties, after);
            }
            retain_in_scope(&mut duties, &scope);
            scope.add_duty_holders(&duties);
            if has(EntityKind::Duty) {
                self.emit_chunked(duties).await?;
                self.in_full_for_scope(EntityKind::Duty).await?;
            }
        }

        let scope = Arc::new(scope);
        let rest: Vec<EntityKind> = [EntityKind::Group, EntityKind::Activity]
            .into_iter()
            .filter(|k| has(*k))
            .collect();
        let persons = async {
            if has(EntityKind::Person) {
                self.read_persons(Arc::clone(&scope), staff_changed).await
            } else {
                Ok(())
            }
        };
        let (persons, rest) = futures::join!(persons, self.read_kinds(&rest, Some(scope.clone())));
        persons?;
        rest
    }

    /// On an incremental read, announces `kind` as listed in full.
    async fn in_full_for_scope(&self, kind: EntityKind) -> Result<(), SourceError> {
        if self.after.is_some() {
            self.listed_in_full(kind, IN_FULL_FOR_SCOPE.to_string())
                .await?;
        }
        Ok(())
    }

    /// Persons within `scope`; on an incremental read the changed ones and
    /// the holders of changed duties (`staff_changed`).
    async fn read_persons(
        &self,
        scope: Arc<Scope>,
        staff_changed: Vec<SourceId>,
    ) -> Result<(), SourceError> {
        let sent = Sent::default();
        let Some(after) = self.after else {
            let dest = Dest::Emit {
                scope: Some(scope),
                sent: &sent,
            };
            self.list::<Person>(Filter::None, dest).await?;
            return Ok(());
        };
        if staff_changed.len() > MAX_STAFF_LOOKUPS {
            let dest = Dest::Emit {
                scope: Some(scope),
                sent: &sent,
            };
            self.list::<Person>(Filter::None, dest).await?;
            let reason = format!(
                "the duties of {} persons changed, more than are fetched one by one \
                 ({MAX_STAFF_LOOKUPS}), so every person in scope was read",
                staff_changed.len()
            );
            return self.listed_in_full(EntityKind::Person, reason).await;
        }
        let listed = self
            .read_changed::<Person>(after, Some(Arc::clone(&scope)), &sent)
            .await?;
        if listed != Listed::Read {
            // Listed in full: every person in scope went out already.
            return Ok(());
        }
        let mut left = Vec::new();
        for id in staff_changed {
            if sent.has(&id) {
                continue;
            }
            match self.fetch_person(&id).await? {
                Some(person) if person.in_scope(&scope) => {
                    self.out.emit(Batch::Persons(vec![person])).await?;
                }
                Some(_) => left.push(id),
                // Gone: /deletedEntities says so.
                None => {}
            }
        }
        self.emit_deleted(EntityKind::Person, left).await
    }

    /// `GET /persons/{id}` (with the configured `expand`); `None` when the
    /// server no longer has the person, or the answer cannot be read (a
    /// reject says why).
    async fn fetch_person(&self, id: &SourceId) -> Result<Option<Person>, SourceError> {
        let mut url = self.endpoint(EntityKind::Person.endpoint())?;
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.push(id.as_str());
        }
        if let Some(expand) = self.reader.settings.expand.get(&EntityKind::Person) {
            url.query_pairs_mut().append_pair("expand", expand);
        }
        let max = self.reader.settings.limits.max_response_bytes;
        let answer = match self.reader.client.get(&url, self.out.progress(), max).await {
            Ok(answer) => answer,
            Err(SourceError::Http { status: 404, .. }) => return Ok(None),
            Err(err) => return Err(err),
        };
        match parse_entity::<Person>(&answer.body) {
            Ok(person) => Ok(Some(person)),
            Err(err) => {
                let reject = Reject::new(Stage::Extract, EntityKind::Person, err.message)
                    .at(format!("GET {}", url.path()))
                    .field(err.path, None)
                    .id(id.as_str());
                tracing::debug!(url = %redact(&url), "a staff member's record cannot be read");
                self.out.emit(Batch::Rejects(vec![reject])).await?;
                Ok(None)
            }
        }
    }
}

/// The holders of duties that changed since `after` (or carry no stamps),
/// each once: their place in the scope may have changed with the duty.
fn holders_of_changed(
    duties: &[Duty],
    after: chrono::DateTime<chrono::FixedOffset>,
) -> Vec<SourceId> {
    let mut holders: Vec<SourceId> = duties
        .iter()
        .filter(|d| !predates_strictly(d, after))
        .filter_map(|d| d.person.as_ref().map(|p| p.id.clone()))
        .collect();
    holders.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    holders.dedup();
    holders
}

/// Whether a duty's stamps show it unchanged since `after` (one without
/// stamps counts as changed).
fn predates_strictly(duty: &Duty, after: chrono::DateTime<chrono::FixedOffset>) -> bool {
    let meta = duty.meta();
    (meta.created.is_some() || meta.modified.is_some()) && predates(meta, after)
}
