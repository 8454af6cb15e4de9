//! Items to send and dependency gating: what is held back, and groups sent
//! without the members whose Person was not accepted.

use super::*;
use skolsync_model::hash::group_without;

fn now_rfc3339() -> String {
    chrono::Local::now()
        .format("%Y-%m-%dT%H:%M:%S%.3f%:z")
        .to_string()
}

fn member_left_out(group: Uuid, person: Uuid) -> LogEntry {
    LogEntry {
        id: MEMBER_LEFT_OUT.to_string(),
        status_code: 424,
        message_type: Some("Beroende saknas".to_string()),
        message: format!(
            "Member {person} was left out of group {group}: its Person was not accepted by the \
             service in this run. The group is sent again with the member once the Person has landed."
        ),
        parameter_name: None,
        parameter_value: None,
        resource_type: Some(ObjectType::Person),
        resource_id: Some(person.to_string()),
        attribute_name: Some("groupMemberships.person.id".to_string()),
        attribute_value: Some(person.to_string()),
        severity_level: SeverityLevel::Warning,
        time_of_occurance: now_rfc3339(),
    }
}

fn push(out: &mut (Vec<Item>, Vec<Item>), op: Op, item: Item) {
    match op {
        Op::Update => out.1.push(item),
        _ => out.0.push(item),
    }
}

impl Runner<'_> {
    // ---- items and gating ---------------------------------------------

    pub(super) fn item<T: Serialize>(
        &self,
        kind: ObjectType,
        op: Op,
        desired: &Desired<T>,
        left_out: Vec<Uuid>,
    ) -> Option<Item> {
        match serde_json::to_vec(&desired.payload) {
            Ok(json) => {
                let mut item = Item::new(desired.id, json, Some(desired.hash.clone()));
                item.left_out = left_out;
                Some(item)
            }
            Err(e) => {
                self.emitter.emit(Outcome {
                    kind,
                    id: desired.id,
                    action: op.action(),
                    status: OutcomeStatus::Error,
                    hash: Some(desired.hash.clone()),
                    left_out,
                    messages: Vec::new(),
                    detail: Some(format!("could not serialize the payload: {e}")),
                    blocked_by: None,
                    job_id: None,
                    attempts: 0,
                });
                None
            }
        }
    }

    pub(super) fn items<T: Serialize>(
        &self,
        kind: ObjectType,
        plan: &TypePlan<T>,
    ) -> (Vec<Item>, Vec<Item>) {
        let creates = plan
            .create
            .iter()
            .filter_map(|d| self.item(kind, Op::Create, d, Vec::new()))
            .collect();
        let updates = plan
            .update
            .iter()
            .filter_map(|d| self.item(kind, Op::Update, d, Vec::new()))
            .collect();
        (creates, updates)
    }

    pub(super) fn hold_back(
        &self,
        kind: ObjectType,
        op: Op,
        id: Uuid,
        hash: &str,
        blocker: Blocker,
    ) {
        self.emitter.emit(Outcome {
            kind,
            id,
            action: op.action(),
            status: OutcomeStatus::HeldBack,
            hash: Some(hash.to_string()),
            left_out: Vec::new(),
            messages: Vec::new(),
            detail: Some(format!(
                "not sent: {} {} it depends on was not accepted",
                blocker.kind, blocker.id
            )),
            blocked_by: Some(blocker),
            job_id: None,
            attempts: 0,
        });
    }

    pub(super) fn persons(&self, plan: &TypePlan<Person>) -> (Vec<Item>, Vec<Item>) {
        self.items(ObjectType::Person, plan)
    }

    pub(super) fn duties(&self, plan: &TypePlan<Duty>) -> (Vec<Item>, Vec<Item>) {
        let failed = self.emitter.failed(ObjectType::Person);
        let mut out = (Vec::new(), Vec::new());
        for (op, list) in [(Op::Create, &plan.create), (Op::Update, &plan.update)] {
            for d in list {
                let person = d.payload.person.id;
                if failed.contains(&person) {
                    let blocker = Blocker {
                        kind: ObjectType::Person,
                        id: person,
                    };
                    self.hold_back(ObjectType::Duty, op, d.id, &d.hash, blocker);
                } else if let Some(item) = self.item(ObjectType::Duty, op, d, Vec::new()) {
                    push(&mut out, op, item);
                }
            }
        }
        out
    }

    pub(super) fn groups(&self, plan: &TypePlan<Group>) -> (Vec<Item>, Vec<Item>) {
        let failed = self.emitter.failed(ObjectType::Person);
        let mut out = (Vec::new(), Vec::new());
        for (op, list) in [(Op::Create, &plan.create), (Op::Update, &plan.update)] {
            for d in list {
                let left_out: Vec<Uuid> = d
                    .payload
                    .group_memberships
                    .iter()
                    .map(|m| m.person.id)
                    .filter(|p| failed.contains(p))
                    .collect();
                let item = if left_out.is_empty() {
                    self.item(ObjectType::Group, op, d, Vec::new())
                } else {
                    // Sent without them; the outcome names them and the
                    // engine decides what hash that confirms (the sink
                    // computes none), so the next run sends the full group.
                    let reduced = Desired {
                        id: d.id,
                        source_id: d.source_id.clone(),
                        hash: d.hash.clone(),
                        school_unit: d.school_unit.clone(),
                        payload: group_without(&d.payload, &left_out),
                    };
                    let warnings = left_out.iter().map(|p| member_left_out(d.id, *p)).collect();
                    let detail = format!(
                        "sent without {} member(s) whose Person was not accepted",
                        left_out.len()
                    );
                    self.item(ObjectType::Group, op, &reduced, left_out)
                        .map(|mut item| {
                            item.warnings = warnings;
                            item.detail = Some(detail);
                            item
                        })
                };
                if let Some(item) = item {
                    push(&mut out, op, item);
                }
            }
        }
        out
    }

    pub(super) fn activities(&self, plan: &TypePlan<Activity>) -> (Vec<Item>, Vec<Item>) {
        let failed_groups = self.emitter.failed(ObjectType::Group);
        let failed_duties = self.emitter.failed(ObjectType::Duty);
        let mut out = (Vec::new(), Vec::new());
        for (op, list) in [(Op::Create, &plan.create), (Op::Update, &plan.update)] {
            for d in list {
                let group = d
                    .payload
                    .groups
                    .iter()
                    .find(|g| failed_groups.contains(&g.id))
                    .map(|g| Blocker {
                        kind: ObjectType::Group,
                        id: g.id,
                    });
                let teacher = || {
                    d.payload
                        .teachers
                        .iter()
                        .find(|t| failed_duties.contains(&t.duty.id))
                        .map(|t| Blocker {
                            kind: ObjectType::Duty,
                            id: t.duty.id,
                        })
                };
                match group.or_else(teacher) {
                    Some(blocker) => {
                        self.hold_back(ObjectType::Activity, op, d.id, &d.hash, blocker)
                    }
                    None => {
                        if let Some(item) = self.item(ObjectType::Activity, op, d, Vec::new()) {
                            push(&mut out, op, item);
                        }
                    }
                }
            }
        }
        out
    }
}
