//! Job confirmation: what a bulk call's answer means for its entities (a
//! job to confirm, a batch to pack again tighter, or an error), and what a
//! job check says (settled, still pending, unknown, unreachable).

use super::*;

impl Runner<'_> {
    pub(super) fn handle(
        &mut self,
        kind: ObjectType,
        event: Event,
        lanes: &mut Lanes,
        jobs: &mut Vec<Job>,
        delayed: &mut Vec<(Instant, Op, Item)>,
    ) {
        match event {
            Event::Sent(batch, result) => self.sent(kind, batch, result, lanes, jobs),
            Event::Checked { job, full, result } => {
                let Some(pos) = jobs.iter().position(|j| j.id == job) else {
                    return;
                };
                jobs[pos].busy = false;
                self.checked(kind, pos, full, result, jobs, delayed);
            }
        }
    }

    fn sent(
        &mut self,
        kind: ObjectType,
        batch: Batch,
        result: Result<Reply, CallError>,
        lanes: &mut Lanes,
        jobs: &mut Vec<Job>,
    ) {
        let Batch {
            op,
            mut items,
            body_len,
        } = batch;
        match result {
            Ok(reply) => {
                self.failures_in_row = 0;
                for item in &mut items {
                    item.sends += reply.sends;
                }
                match job_id(&reply) {
                    Ok(job_id) => {
                        for item in &mut items {
                            item.job = Some(job_id);
                        }
                        let now = Instant::now();
                        jobs.push(Job {
                            id: job_id,
                            op,
                            items,
                            resolved: HashSet::new(),
                            accepted_at: now,
                            next_check: now + self.estimator.first_check(),
                            checked: false,
                            ready: false,
                            polls: 0,
                            busy: false,
                        });
                    }
                    Err(e) => {
                        let detail = format!(
                            "the service answered {} without a job id, so the outcome is unknown: {e}",
                            reply.status
                        );
                        self.fail_all(kind, op, items, &[], &detail);
                    }
                }
            }
            Err(CallError::TooLarge { .. }) if items.len() > 1 => {
                // The service's limit is lower than ours: pack again, tighter.
                let lower = body_len - body_len / 10;
                if lower < self.body_limit {
                    tracing::warn!(
                        refused = body_len,
                        new_limit = lower,
                        "the Provisioning API refused a {body_len}-byte body as too large; packing under {lower} bytes from now on"
                    );
                    self.body_limit = lower;
                }
                let lane = lanes.lane(op);
                for item in items.into_iter().rev() {
                    lane.push_front(item);
                }
            }
            Err(CallError::TooLarge { .. }) => {
                let detail = format!(
                    "the service refused its {body_len}-byte request body as over its body limit (413)"
                );
                self.fail_all(kind, op, items, &[], &detail);
            }
            Err(error) => {
                for item in &mut items {
                    item.sends += error.sends();
                }
                let stops = error.stops_the_run();
                let (messages, message) = match error {
                    CallError::Refused {
                        entries, message, ..
                    } => (entries, message),
                    other => (Vec::new(), other.message()),
                };
                tracing::warn!(%message, entities = items.len(), "a bulk call failed");
                self.fail_all(kind, op, items, &messages, &message);
                if stops && self.aborted.is_none() {
                    tracing::error!(%message, "stopping the run");
                    self.aborted = Some(message);
                    return;
                }
                self.failures_in_row += 1;
                if self.failures_in_row >= ABORT_AFTER && self.aborted.is_none() {
                    tracing::error!(%message, "stopping: {ABORT_AFTER} bulk calls in a row failed");
                    self.aborted = Some(format!(
                        "{ABORT_AFTER} bulk calls in a row failed, the last with: {message}"
                    ));
                }
            }
        }
    }

    fn checked(
        &mut self,
        kind: ObjectType,
        pos: usize,
        full: bool,
        result: Result<Reply, CallError>,
        jobs: &mut Vec<Job>,
        delayed: &mut Vec<(Instant, Op, Item)>,
    ) {
        let now = Instant::now();
        match result {
            Ok(reply) => {
                let age = reply
                    .sent_at
                    .saturating_duration_since(jobs[pos].accepted_at);
                if full {
                    match readback::job_status(&reply.body) {
                        Ok(status) => self.settled(kind, pos, age, status, jobs, delayed),
                        Err(e) => {
                            let job = &mut jobs[pos];
                            job.polls += 1;
                            job.next_check = now + backoff(job.polls);
                            tracing::warn!(job = %job.id, error = %e, "unreadable job status; asking again");
                        }
                    }
                } else {
                    let answer = readback::is_completed(&reply.body);
                    let job = &mut jobs[pos];
                    if answer.is_none() {
                        tracing::warn!(job = %job.id, body = %super::super::auth::excerpt(&reply.body), "isCompleted answered neither true nor false; taken as not yet");
                    }
                    let done = answer == Some(true);
                    job.checked = true;
                    if done {
                        self.estimator.complete(age);
                        job.ready = true;
                        job.next_check = now;
                    } else {
                        self.estimator.pending(age);
                        job.polls += 1;
                        job.next_check = now + Estimator::poll_gap(age);
                    }
                }
            }
            Err(CallError::Refused { status: 404, .. }) => {
                // The service does not know the job (any more): nothing of
                // it was confirmed, so its entities are sent again.
                let job = jobs.swap_remove(pos);
                for item in job.items {
                    self.again_later(
                        kind,
                        job.op,
                        item,
                        "its job was unknown to the service",
                        Vec::new(),
                        delayed,
                    );
                }
            }
            Err(error) if error.stops_the_run() => {
                // The job was accepted, so its entities may have landed;
                // they end `Error` and a later run sends them again.
                let job = jobs.swap_remove(pos);
                let message = error.message();
                let detail = format!(
                    "its job {} was accepted, but its outcome could not be confirmed: {message}",
                    job.id
                );
                self.fail_all(kind, job.op, job.items, &[], &detail);
                if self.aborted.is_none() {
                    tracing::error!(%message, "stopping the run");
                    self.aborted = Some(message);
                }
            }
            Err(error) => {
                let job = &mut jobs[pos];
                job.polls += 1;
                job.next_check = now + backoff(job.polls);
                tracing::warn!(job = %job.id, error = %error.message(), "could not check a job; trying again");
            }
        }
    }

    /// A job status was read: the entities it lists with a final status
    /// are resolved now; the job stays until every entity it carried has
    /// one ([`settle`]).
    fn settled(
        &mut self,
        kind: ObjectType,
        pos: usize,
        age: Duration,
        status: readback::JobStatus,
        jobs: &mut Vec<Job>,
        delayed: &mut Vec<(Instant, Op, Item)>,
    ) {
        let now = Instant::now();
        for problem in &status.problems {
            tracing::warn!(job = %jobs[pos].id, %problem, "part of a job status could not be read");
        }
        let job = &mut jobs[pos];
        let sent: Vec<Uuid> = job.items.iter().map(|i| i.id).collect();
        let mut settlement = settle(&sent, &job.resolved, status);
        if settlement.strangers > 0 {
            tracing::warn!(job = %job.id, strangers = settlement.strangers, "the job status lists ids this job did not carry; ignored");
        }
        let (done, waiting): (Vec<Item>, Vec<Item>) = job
            .items
            .drain(..)
            .partition(|i| settlement.done.contains_key(&i.id));
        job.items = waiting;
        job.resolved.extend(done.iter().map(|i| i.id));
        let op = job.op;
        let resolved: Vec<(Item, Result<EntityOutcome, String>)> = done
            .into_iter()
            .filter_map(|item| settlement.done.remove(&item.id).map(|o| (item, o)))
            .collect();
        if job.items.is_empty() {
            if !job.checked || job.ready {
                self.estimator.complete(age);
            }
            jobs.swap_remove(pos);
        } else {
            if !job.ready {
                self.estimator.pending(age);
            }
            job.checked = true;
            job.polls += 1;
            // `isCompleted` said `true` but the status does not list every
            // entity yet: ask for the status again (not `isCompleted`,
            // which would say `true` again at once), backing off.
            job.next_check = if job.ready {
                now + backoff(job.polls)
            } else {
                now + Estimator::poll_gap(age)
            };
        }
        self.resolve(kind, op, resolved, delayed);
    }
}

/// The job a bulk call's `202` started: the body's `jobId`, else the last
/// segment of its `Location` header (spec, `202_accepted`: "Location: URL
/// till det nyskapade asynkrona jobbet", e.g. `…/persons/bulk/jobs/{id}`).
fn job_id(reply: &Reply) -> Result<Uuid, String> {
    let body = from_json::<Accepted>(&String::from_utf8_lossy(&reply.body));
    let error = match body {
        Ok(accepted) => return Ok(accepted.job_id),
        Err(e) => e.to_string(),
    };
    reply
        .location
        .as_deref()
        .and_then(|l| l.trim_end_matches('/').rsplit('/').next())
        .and_then(|last| Uuid::parse_str(last).ok())
        .ok_or(error)
}

/// What a job status says about the entities a job carried.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Settlement {
    /// Entities listed with a final status, or with one that cannot be read.
    pub done: HashMap<Uuid, Result<EntityOutcome, String>>,
    /// Entities not listed yet, or listed `Pending`: waited for, never sent
    /// again.
    pub waiting: Vec<Uuid>,
    /// Listed ids the job did not carry.
    pub strangers: usize,
}

/// Decides, from a job status, which of the `sent` entities have their
/// outcome. A job is complete only when every entity it carried is listed
/// with a final status: the spec's `AsynchronousResponse.responses` has
/// "Identifierare för resursen som asynkrona återkopplingen gäller" per
/// entity and `status` "_Pending_ - Den asynkrona processen är inte klar
/// ännu". Not documented: whether a status may list only some entities
/// while others are still queued; chosen: an entity not listed is waited
/// for like a `Pending` one (until the job deadline), never sent again —
/// sending it again could race its own first job. When an id is listed
/// twice, a final status wins over `Pending`.
pub(super) fn settle(
    sent: &[Uuid],
    resolved: &HashSet<Uuid>,
    status: readback::JobStatus,
) -> Settlement {
    let carried: HashSet<Uuid> = sent.iter().copied().collect();
    let mut out = Settlement::default();
    for entity in status.entities {
        if !carried.contains(&entity.id) {
            if !resolved.contains(&entity.id) {
                out.strangers += 1;
            }
            continue;
        }
        let is_final = entity.read.as_ref().map_or(true, |o| o.status.is_final());
        if is_final {
            out.done.insert(entity.id, entity.read);
        }
    }
    out.waiting = sent
        .iter()
        .filter(|id| !out.done.contains_key(id))
        .copied()
        .collect();
    out
}

#[cfg(test)]
mod tests {
    use skolsync_model::JobEntityStatus;

    use super::super::readback::{EntityStatus, JobStatus};
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn listed(n: u128, status: JobEntityStatus) -> EntityStatus {
        EntityStatus {
            id: id(n),
            read: Ok(EntityOutcome {
                status,
                status_code: None,
                location: None,
                errors: Vec::new(),
                warnings: Vec::new(),
            }),
        }
    }

    fn status(entities: Vec<EntityStatus>) -> JobStatus {
        JobStatus {
            entities,
            problems: Vec::new(),
        }
    }

    #[test]
    fn a_partial_list_settles_only_what_it_lists_with_a_final_status() {
        let sent = [id(1), id(2), id(3), id(4)];
        let settlement = settle(
            &sent,
            &HashSet::new(),
            status(vec![
                listed(1, JobEntityStatus::Success),
                listed(2, JobEntityStatus::Pending),
                listed(4, JobEntityStatus::TemporaryError),
            ]),
        );
        let mut done: Vec<Uuid> = settlement.done.keys().copied().collect();
        done.sort();
        assert_eq!(done, [id(1), id(4)]);
        // Pending and not listed at all: both waited for.
        assert_eq!(settlement.waiting, [id(2), id(3)]);
        assert_eq!(settlement.strangers, 0);
    }

    #[test]
    fn a_job_is_complete_only_when_every_sent_id_is_listed_final() {
        let sent = [id(1), id(2)];
        // Every listed entity is final, but one sent id is missing.
        let partial = settle(
            &sent,
            &HashSet::new(),
            status(vec![listed(1, JobEntityStatus::Error)]),
        );
        assert_eq!(partial.waiting, [id(2)]);
        let whole = settle(
            &sent,
            &HashSet::new(),
            status(vec![
                listed(2, JobEntityStatus::Warning),
                listed(1, JobEntityStatus::Error),
            ]),
        );
        assert!(whole.waiting.is_empty());
        assert_eq!(whole.done.len(), 2);
        // An empty list (nothing processed yet) completes nothing.
        assert_eq!(
            settle(&sent, &HashSet::new(), JobStatus::default()).waiting,
            sent
        );
    }

    #[test]
    fn ids_the_job_did_not_carry_are_ignored_and_final_beats_pending() {
        let sent = [id(1)];
        let settlement = settle(
            &sent,
            &HashSet::new(),
            status(vec![
                listed(9, JobEntityStatus::Success),
                listed(1, JobEntityStatus::Pending),
                listed(1, JobEntityStatus::Success),
                listed(1, JobEntityStatus::Pending),
            ]),
        );
        assert_eq!(settlement.strangers, 1);
        assert!(settlement.waiting.is_empty());
        assert_eq!(
            settlement.done[&id(1)].as_ref().map(|o| o.status),
            Ok(JobEntityStatus::Success)
        );
    }

    #[test]
    fn ids_resolved_by_an_earlier_partial_status_are_not_strangers() {
        // The first status listed 1 final; the job now waits only for 2,
        // and the next status lists both again.
        let resolved: HashSet<Uuid> = [id(1)].into_iter().collect();
        let settlement = settle(
            &[id(2)],
            &resolved,
            status(vec![
                listed(1, JobEntityStatus::Success),
                listed(2, JobEntityStatus::Success),
            ]),
        );
        assert_eq!(settlement.strangers, 0);
        assert!(settlement.done.contains_key(&id(2)));
        assert!(!settlement.done.contains_key(&id(1)));
    }

    #[test]
    fn the_job_id_comes_from_the_body_or_else_the_location() {
        let reply = |body: &str, location: Option<&str>| Reply {
            status: 202,
            body: body.as_bytes().to_vec(),
            sent_at: Instant::now(),
            sends: 1,
            location: location.map(str::to_string),
        };
        let body = format!(r#"{{"jobId":"{}","message":"ok"}}"#, id(7));
        assert_eq!(job_id(&reply(&body, None)), Ok(id(7)));
        let location = format!("https://api.example/v1/persons/bulk/jobs/{}", id(8));
        assert_eq!(job_id(&reply("{}", Some(&location))), Ok(id(8)));
        assert!(job_id(&reply("{}", None)).is_err());
        assert!(
            job_id(&reply(
                "{}",
                Some("https://api.example/v1/persons/bulk/jobs/x")
            ))
            .is_err()
        );
    }

    #[test]
    fn an_unreadable_status_settles_its_entity_with_the_problem() {
        let sent = [id(1), id(2)];
        let settlement = settle(
            &sent,
            &HashSet::new(),
            status(vec![
                EntityStatus {
                    id: id(1),
                    read: Err("status `Queued`".to_string()),
                },
                listed(2, JobEntityStatus::Success),
            ]),
        );
        assert!(settlement.waiting.is_empty());
        assert_eq!(settlement.done[&id(1)], Err("status `Queued`".to_string()));
    }
}
