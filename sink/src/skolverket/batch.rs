//! Packing entities into request bodies by serialized size.
//!
//! Each entity is serialized once; a body is `{"data":[` + the entities
//! joined by `,` + `]}`, so its exact size is known before it is built.
//! Batches are filled in order and as full as the limit allows; when the
//! next entity does not fit, a few following ones are tried so the gap is
//! filled (the order of entities within a type does not matter to the
//! service).

use std::collections::VecDeque;
use std::sync::Arc;

use skolsync_model::provtjanst::LogEntry;
use uuid::Uuid;

/// Bytes of `{"data":[` and `]}`.
pub const ENVELOPE_BYTES: usize = 11;

/// How far past an entity that does not fit packing looks for one that does.
const LOOKAHEAD: usize = 64;

/// One entity on its way to the service.
#[derive(Debug, Clone)]
pub struct Item {
    /// Its id.
    pub id: Uuid,
    /// Its JSON (the payload, or `"<uuid>"` for a delete).
    pub json: Arc<[u8]>,
    /// The desired entity's content hash (creates and updates).
    pub hash: Option<String>,
    /// Group members (Person ids) left out of what is sent; the outcome
    /// says so and the engine decides what hash that confirms.
    pub left_out: Vec<Uuid>,
    /// Bulk calls that carried it and were processed.
    pub sends: u32,
    /// `TemporaryError`s (and unlisted statuses) so far.
    pub temporary: u32,
    /// The sink's own warnings (group members left out).
    pub warnings: Vec<LogEntry>,
    /// The sink's own note for the outcome.
    pub detail: Option<String>,
    /// The last job that carried it.
    pub job: Option<Uuid>,
    /// A group sent again whole after the service left out members that
    /// landed in this run (done once).
    pub resent_whole: bool,
}

impl Item {
    /// An entity with its serialized payload.
    pub fn new(id: Uuid, json: Vec<u8>, hash: Option<String>) -> Item {
        Item {
            id,
            json: Arc::from(json),
            hash,
            left_out: Vec::new(),
            sends: 0,
            temporary: 0,
            warnings: Vec::new(),
            detail: None,
            job: None,
            resent_whole: false,
        }
    }

    /// Bytes it adds to a body (its JSON and a separating comma).
    pub fn cost(&self) -> usize {
        self.json.len() + 1
    }
}

/// The size of a body holding `items`.
pub fn body_len(items: &[Item]) -> usize {
    ENVELOPE_BYTES
        + items.iter().map(|i| i.json.len()).sum::<usize>()
        + items.len().saturating_sub(1)
}

/// The smallest body any single item makes.
pub fn single_len(item: &Item) -> usize {
    ENVELOPE_BYTES + item.json.len()
}

/// Builds the body `{"data":[…]}`.
pub fn body(items: &[Item]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body_len(items));
    out.extend_from_slice(b"{\"data\":[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&item.json);
    }
    out.extend_from_slice(b"]}");
    out
}

/// Takes the next batch from the front of `queue`, as full as `limit`
/// allows. The caller has removed items that do not fit alone.
pub fn take_batch(queue: &mut VecDeque<Item>, limit: usize) -> Vec<Item> {
    let mut batch = Vec::new();
    // ENVELOPE − 1: the first item needs no comma.
    let mut size = ENVELOPE_BYTES - 1;
    while let Some(front) = queue.front() {
        if size + front.cost() <= limit {
            size += front.cost();
            if let Some(item) = queue.pop_front() {
                batch.push(item);
            }
            continue;
        }
        // Fill the gap with a later, smaller entity if one fits.
        let room = limit.saturating_sub(size);
        let found = queue
            .iter()
            .take(LOOKAHEAD)
            .position(|item| item.cost() <= room);
        match found.and_then(|i| queue.remove(i)) {
            Some(item) => {
                size += item.cost();
                batch.push(item);
            }
            None => break,
        }
    }
    batch
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(len: usize) -> Item {
        let mut json = vec![b'"'; 1];
        json.extend(std::iter::repeat_n(b'x', len.saturating_sub(2)));
        json.push(b'"');
        Item::new(Uuid::new_v4(), json, None)
    }

    #[test]
    fn bodies_are_exactly_as_long_as_computed() {
        let items = vec![item(10), item(20), item(3)];
        let b = body(&items);
        assert_eq!(b.len(), body_len(&items));
        let parsed: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(parsed["data"].as_array().unwrap().len(), 3);
        assert_eq!(body(&[]), b"{\"data\":[]}");
    }

    #[test]
    fn batches_fill_up_to_the_limit_and_never_over_it() {
        let mut queue: VecDeque<Item> = (0..1000).map(|i| item(50 + (i * 37) % 400)).collect();
        let total: usize = queue.iter().map(|i| i.json.len()).sum();
        let limit = 10_000;
        let mut batches = Vec::new();
        while !queue.is_empty() {
            let batch = take_batch(&mut queue, limit);
            assert!(!batch.is_empty());
            assert!(body_len(&batch) <= limit, "{}", body_len(&batch));
            assert_eq!(body(&batch).len(), body_len(&batch));
            batches.push(batch);
        }
        let sent: usize = batches.iter().flatten().map(|i| i.json.len()).sum();
        assert_eq!(sent, total, "every item is sent exactly once");
        // All but the last batch are within 2 % of the limit (entities of
        // up to 4 % of it; the real ratio is about 0.25 %).
        for batch in &batches[..batches.len() - 1] {
            assert!(body_len(batch) >= limit * 98 / 100, "{}", body_len(batch));
        }
    }

    #[test]
    fn a_gap_is_filled_by_a_later_smaller_item() {
        let mut queue: VecDeque<Item> = [item(60), item(60), item(20)].into_iter().collect();
        // Room for 60 + 20 (+ envelope 11 + comma 1) = 92, not for 60 + 60.
        let batch = take_batch(&mut queue, 100);
        assert_eq!(
            batch.iter().map(|i| i.json.len()).collect::<Vec<_>>(),
            [60, 20]
        );
        assert_eq!(queue.len(), 1);
    }
}
