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
                self.checked(kind, pos, full, result, lanes, jobs, delayed);
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
                match from_json::<Accepted>(&String::from_utf8_lossy(&reply.body)) {
                    Ok(accepted) => {
                        for item in &mut items {
                            item.job = Some(accepted.job_id);
                        }
                        let now = Instant::now();
                        jobs.push(Job {
                            id: accepted.job_id,
                            op,
                            items,
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

    #[allow(clippy::too_many_arguments)]
    fn checked(
        &mut self,
        kind: ObjectType,
        pos: usize,
        full: bool,
        result: Result<Reply, CallError>,
        lanes: &mut Lanes,
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
                    match from_json::<AsynchronousResponse>(&String::from_utf8_lossy(&reply.body)) {
                        Ok(status) if status.is_completed() => {
                            if !jobs[pos].checked || jobs[pos].ready {
                                self.estimator.complete(age);
                            }
                            let job = jobs.swap_remove(pos);
                            self.resolve(kind, job, status, lanes, delayed);
                        }
                        Ok(_) => {
                            self.estimator.pending(age);
                            let job = &mut jobs[pos];
                            job.checked = true;
                            job.ready = false;
                            job.polls += 1;
                            job.next_check = now + Estimator::poll_gap(age);
                        }
                        Err(e) => {
                            let job = &mut jobs[pos];
                            job.polls += 1;
                            job.next_check = now + backoff(job.polls);
                            tracing::warn!(job = %job.id, error = %e, "unreadable job status; asking again");
                        }
                    }
                } else {
                    let done = String::from_utf8_lossy(&reply.body).trim() == "true";
                    let job = &mut jobs[pos];
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
}
