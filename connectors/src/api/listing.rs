//! Listing one resource page by page, on a full or an incremental read.
//!
//! An incremental read lists each resource twice, with `meta.modified.after`
//! and with `meta.created.after`: servers differ in which of the two they
//! honour (some stamp a new entity as created only), and an entity both
//! listings return goes out once. The second listing starts once the first
//! page of the first showed the filter honoured, and then runs beside it
//! (within the read's `concurrency`). Whether a server honours a filter is seen
//! in what it returns: an entity stamped at or before the instant asked
//! for (or without stamps) means the filter was ignored. That listing is
//! then read to its end, everything goes out, and the kind is announced
//! [`Batch::ListedInFull`] so a cached copy replaces it instead of merging
//! — a change is never missed, only read more than needed. The other
//! listing of the kind then stops at its next page: the one read in full
//! holds everything it could return. A server that
//! refuses a filter outright (`400`/`501` where the plain listing works)
//! ends the read with [`SourceError::IncrementalUnsupported`]: the caller
//! reads in full instead.
//!
//! The first request of every listing also settles the page size: a `400`
//! whose message is about `limit` is asked again with a smaller page (the
//! maximum the message names, else half), which the rest of the read keeps.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

use chrono::{DateTime, FixedOffset, SecondsFormat};
use reqwest::Url;
use skolsync_model::ss12000::{DeletedEntityIds, Entity, EntityKind, Meta, SourceId};

use super::guard::Pager;
use super::http::{Answer, redact};
use super::scope::Scope;
use super::{ApiEntity, Run, parse_page};
use crate::error::SourceError;
use crate::shape::InputShape;
use crate::source::Batch;

/// Smallest page the connector falls back to when a server refuses
/// `limit`; a server that refuses even this gets its error reported.
const MIN_FALLBACK_PAGE_SIZE: u32 = 10;

/// How far before the instant asked for an entity's stamps must lie to show
/// that a filter was ignored: servers that keep whole seconds may return an
/// entity stamped within the second of a sub-second instant.
const STAMP_GRACE: chrono::Duration = chrono::Duration::seconds(1);

/// The change filter of a listing.
#[derive(Debug, Clone, Copy)]
pub(super) enum Filter {
    /// Everything.
    None,
    /// `meta.modified.after`.
    ModifiedAfter(DateTime<FixedOffset>),
    /// `meta.created.after`.
    CreatedAfter(DateTime<FixedOffset>),
}

impl Filter {
    /// The query parameter and the instant.
    fn parameter(self) -> Option<(&'static str, DateTime<FixedOffset>)> {
        match self {
            Filter::None => None,
            Filter::ModifiedAfter(t) => Some(("meta.modified.after", t)),
            Filter::CreatedAfter(t) => Some(("meta.created.after", t)),
        }
    }
}

/// Whether an entity with `meta` could not have passed a filter for
/// changes after `after`: both stamps at or before it, or none at all.
pub(super) fn predates(meta: &Meta, after: DateTime<FixedOffset>) -> bool {
    let limit = after - STAMP_GRACE;
    match (meta.created, meta.modified) {
        (None, None) => true,
        (created, modified) => [created, modified]
            .into_iter()
            .flatten()
            .all(|t| t <= limit),
    }
}

/// What one kind's listings have sent so far in a read, shared by the
/// listings of the kind that run at the same time.
#[derive(Debug, Default)]
pub(super) struct Sent {
    inner: Mutex<SentInner>,
    /// Told when the first filtered listing judged its first page.
    judged: Notify,
}

#[derive(Debug, Default)]
struct SentInner {
    /// Ids of the entities sent, so one both listings return goes out once.
    ids: HashSet<String>,
    /// Changed entities outside the school unit filter: gone for a cached
    /// copy of the source, sent as [`Batch::Deleted`] at the end.
    left_scope: Vec<SourceId>,
    /// The filter (query parameter) of the listing that found it ignored
    /// and reads the kind in full; the kind's other listing stops.
    in_full_by: Option<&'static str>,
    /// Whether the first filtered listing judged its first page (or ended).
    first_page_judged: bool,
    /// The server does not offer the (optional) resource: the second
    /// listing is not asked.
    missing: bool,
}

impl Sent {
    /// The shared state; a listing that panicked cannot leave it half
    /// written (every change is one insert or push), so a poisoned lock is
    /// used as it is.
    fn lock(&self) -> MutexGuard<'_, SentInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether an entity with `id` went out.
    pub(super) fn has(&self, id: &SourceId) -> bool {
        self.lock().ids.contains(id.as_str())
    }

    /// Drops from `entities` those sent before and notes the rest; with a
    /// `scope`, moves those outside it into `left_scope`.
    fn only_new<T: ApiEntity>(&self, entities: &mut Vec<T>, scope: Option<&Scope>) {
        let mut inner = self.lock();
        entities.retain(|e| inner.ids.insert(e.id().as_str().to_string()));
        if let Some(scope) = scope {
            let (keep, gone): (Vec<T>, Vec<T>) = std::mem::take(entities)
                .into_iter()
                .partition(|e| e.in_scope(scope));
            *entities = keep;
            inner
                .left_scope
                .extend(gone.into_iter().map(|e| e.id().clone()));
        }
    }

    /// The changed entities found outside the scope so far (taken).
    fn take_left_scope(&self) -> Vec<SourceId> {
        std::mem::take(&mut self.lock().left_scope)
    }

    /// The listing with `filter` found it ignored: it reads the kind in
    /// full unless the other listing already does. Returns whether it does.
    fn claim_in_full(&self, filter: &'static str) -> bool {
        let mut inner = self.lock();
        *inner.in_full_by.get_or_insert(filter) == filter
    }

    /// Whether the other listing reads the kind in full (so the one with
    /// `filter` can stop).
    fn in_full_by_other(&self, filter: &'static str) -> bool {
        self.lock().in_full_by.is_some_and(|by| by != filter)
    }

    /// How the second listing of a kind ended without asking: the first
    /// reads the kind in full, or the server does not offer it.
    fn skips_second(&self) -> Option<Listed> {
        let inner = self.lock();
        if inner.missing {
            Some(Listed::Missing)
        } else {
            inner.in_full_by.map(|_| Listed::Read)
        }
    }

    /// A filtered listing judged a page (or ended): the second listing may
    /// start.
    fn page_judged(&self) {
        let mut inner = self.lock();
        if !inner.first_page_judged {
            inner.first_page_judged = true;
            self.judged.notify_waiters();
        }
    }

    /// Waits until the first listing judged its first page (or ended).
    async fn first_page_judged(&self) {
        loop {
            // Registered before the check, so a notice between the two is
            // not lost.
            let notified = self.judged.notified();
            if self.lock().first_page_judged {
                return;
            }
            notified.await;
        }
    }
}

/// Where the entities of a listing go.
pub(super) enum Dest<'a, T> {
    /// To the stream, those in scope (if a scope is given), each once.
    Emit {
        scope: Option<Arc<Scope>>,
        sent: &'a Sent,
    },
    /// Into a list, all of them (the caller filters).
    Collect(&'a mut Vec<T>),
}

/// How a listing ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Listed {
    /// Read to its end.
    Read,
    /// Read to its end, but the server ignored the filter: everything was
    /// listed.
    IgnoredFilter,
    /// The server does not offer the (optional) resource.
    Missing,
}

impl Run {
    /// The changes of `T` since `after` (incremental read): the two
    /// filtered listings, the second beside the first once the first page
    /// showed the filter honoured (module docs), merged; the kind announced
    /// in full if the server ignored a filter; changed entities outside
    /// `scope` as deletions. `sent` keeps what went out.
    pub(super) async fn read_changed<T: ApiEntity>(
        &self,
        after: DateTime<FixedOffset>,
        scope: Option<Arc<Scope>>,
        sent: &Sent,
    ) -> Result<Listed, SourceError> {
        let (modified, created) = (Filter::ModifiedAfter(after), Filter::CreatedAfter(after));
        let first = async {
            let dest = Dest::Emit {
                scope: scope.clone(),
                sent,
            };
            let listed = self.list::<T>(modified, dest).await;
            if let Ok(Listed::Missing) = listed {
                sent.lock().missing = true;
            }
            sent.page_judged();
            listed
        };
        let second = async {
            sent.first_page_judged().await;
            if let Some(skip) = sent.skips_second() {
                return Ok(skip);
            }
            let dest = Dest::Emit {
                scope: scope.clone(),
                sent,
            };
            self.list::<T>(created, dest).await
        };
        let listed = futures::try_join!(first, second)?;
        let ignored = match listed {
            (Listed::Missing, _) | (_, Listed::Missing) => return Ok(Listed::Missing),
            (Listed::IgnoredFilter, _) => modified,
            (_, Listed::IgnoredFilter) => created,
            (Listed::Read, Listed::Read) => {
                let left = sent.take_left_scope();
                self.emit_deleted(T::KIND, left).await?;
                return Ok(Listed::Read);
            }
        };
        let name = ignored.parameter().map(|(n, _)| n).unwrap_or_default();
        let reason = format!(
            "the server ignores {name} on /{}, so every entity was read",
            T::KIND.endpoint()
        );
        tracing::warn!("{reason}; incremental reads of it cost a full listing");
        // Everything in scope went out; what is outside is dropped by the
        // replacement, no deletions needed.
        self.listed_in_full(T::KIND, reason).await?;
        Ok(Listed::IgnoredFilter)
    }

    /// Sends `ids` of `kind` as deleted.
    pub(super) async fn emit_deleted(
        &self,
        kind: EntityKind,
        ids: Vec<SourceId>,
    ) -> Result<(), SourceError> {
        let mut deleted = DeletedEntityIds::default();
        skolsync_model::by_kind!(kind, &mut deleted, |list| list.extend(ids));
        self.out.emit(Batch::Deleted(deleted)).await?;
        Ok(())
    }

    /// Announces that every entity of `kind` went out in this read.
    pub(super) async fn listed_in_full(
        &self,
        kind: EntityKind,
        reason: String,
    ) -> Result<(), SourceError> {
        self.out.emit(Batch::ListedInFull { kind, reason }).await?;
        Ok(())
    }

    /// The current page size: the configured one, or smaller once a server
    /// refused it.
    pub(super) fn page_size(&self) -> u32 {
        self.page_size.load(Ordering::Relaxed)
    }

    /// Asks for the page after `url` (a list or `/deletedEntities`):
    /// `limit` and the server's `token` only, as the spec requires, within
    /// the pager's limits. Returns the page's URL and answer.
    pub(super) async fn follow(
        &self,
        endpoint: &Url,
        pager: &mut Pager,
        url: &Url,
        token: &str,
    ) -> Result<(Url, Answer), SourceError> {
        pager.token(url, token)?;
        pager.next_page(url)?;
        let mut next = endpoint.clone();
        next.query_pairs_mut()
            .append_pair("limit", &self.page_size().to_string())
            .append_pair("pageToken", token);
        let answer = self
            .reader
            .client
            .get(&next, self.out.progress(), pager.bytes_left())
            .await?;
        Ok((next, answer))
    }

    /// Reads one list endpoint to its end.
    pub(super) async fn list<T: ApiEntity>(
        &self,
        filter: Filter,
        mut dest: Dest<'_, T>,
    ) -> Result<Listed, SourceError> {
        let settings = &self.reader.settings;
        let kind = T::KIND;
        let endpoint = self.endpoint(kind.endpoint())?;
        let path = endpoint.path().to_string();
        let expand = settings.expand.get(&kind).map(String::as_str);
        // One of the read's `concurrency` listings at a time.
        let _permit = self.listing_permit().await?;
        let mut pager = Pager::new(settings.limits);
        pager.next_page(&endpoint)?;
        let first = |limit: u32, filter: Filter| {
            let mut url = endpoint.clone();
            {
                let mut query = url.query_pairs_mut();
                query.append_pair("limit", &limit.to_string());
                if let Some((name, after)) = filter.parameter() {
                    query.append_pair(name, &after.to_rfc3339_opts(SecondsFormat::AutoSi, true));
                }
                if let Some(expand) = expand {
                    query.append_pair("expand", expand);
                }
            }
            url
        };
        let (mut url, mut answer) = match self.first_request(&first, filter, &pager).await {
            Ok(first) => first,
            Err(SourceError::Http {
                url: shown,
                status: 404,
                message,
                ..
            }) => {
                self.resource_missing(kind, &path, shown, message).await?;
                return Ok(Listed::Missing);
            }
            Err(err) => return Err(err),
        };
        let mut ignored = false;
        loop {
            pager.bytes += answer.body.len() as u64;
            if let Some(date) = answer.date {
                let _ = self.server_start.set(date);
            }
            let location = format!("GET {path} (page {})", pager.pages);
            let (mut entities, rejects, next) =
                parse_page::<T>(&answer.body, &location).map_err(|message| {
                    SourceError::Protocol {
                        url: redact(&url),
                        message,
                    }
                })?;
            drop(answer);
            pager.add_entities(&url, (entities.len() + rejects.len()) as u64)?;
            let filtered = filter.parameter();
            if let Some((_, after)) = filtered
                && !ignored
            {
                ignored = any_predates(&entities, after);
            }
            self.out.emit(Batch::Rejects(rejects)).await?;
            let mut other_in_full = false;
            match &mut dest {
                Dest::Emit { scope, sent } => {
                    sent.only_new(&mut entities, scope.as_deref());
                    if let Some((name, _)) = filtered {
                        if ignored && !sent.claim_in_full(name) {
                            // The other listing reads the kind in full.
                            ignored = false;
                        }
                        other_in_full = sent.in_full_by_other(name);
                        sent.page_judged();
                    }
                    self.out.emit(T::batch(entities)).await?;
                }
                Dest::Collect(into) => into.extend(entities),
            }
            if other_in_full {
                // What this listing would return, the other one does.
                break;
            }
            let Some(token) = next else { break };
            (url, answer) = self.follow(&endpoint, &mut pager, &url, &token).await?;
        }
        self.out
            .emit(Batch::Input(InputShape {
                name: format!("/{}", kind.endpoint()),
                columns: Vec::new(),
                records: pager.entities,
                bytes: pager.bytes,
                anomalies: Vec::new(),
            }))
            .await?;
        Ok(if ignored {
            Listed::IgnoredFilter
        } else {
            Listed::Read
        })
    }

    /// Sends the first request of a listing, `url(limit, filter)` its URL.
    /// A `400` about `limit` is asked again with a smaller page; a `400` or
    /// `501` to a filtered request is asked again without the filter, and
    /// if that works the server refuses the filter
    /// ([`SourceError::IncrementalUnsupported`]).
    pub(super) async fn first_request(
        &self,
        url: &(dyn Fn(u32, Filter) -> Url + Send + Sync),
        filter: Filter,
        pager: &Pager,
    ) -> Result<(Url, Answer), SourceError> {
        loop {
            let limit = self.page_size();
            let request = url(limit, filter);
            let refused = match self.get(&request, pager).await {
                Ok(answer) => return Ok((request, answer)),
                Err(err) => err,
            };
            let SourceError::Http {
                status: status @ (400 | 501),
                message,
                ..
            } = &refused
            else {
                return Err(refused);
            };
            if *status == 400
                && about_limit(message)
                && let Some(smaller) = smaller_page(limit, message)
            {
                self.shrink_page_size(limit, smaller, &request, message);
                continue;
            }
            let Some((name, _)) = filter.parameter() else {
                return Err(refused);
            };
            // Is it the filter? The same listing without it tells.
            match self.get(&url(limit, Filter::None), pager).await {
                Ok(_) => {
                    return Err(SourceError::IncrementalUnsupported {
                        url: redact(&request),
                        reason: format!(
                            "the server refuses {name} on {} (HTTP {status}: {message}) but lists it without",
                            request.path()
                        ),
                    });
                }
                Err(SourceError::Http {
                    status: 400,
                    message: plain,
                    ..
                }) if about_limit(&plain) => match smaller_page(limit, &plain) {
                    Some(smaller) => self.shrink_page_size(limit, smaller, &request, &plain),
                    None => return Err(refused),
                },
                Err(_) => return Err(refused),
            }
        }
    }

    async fn get(&self, url: &Url, pager: &Pager) -> Result<Answer, SourceError> {
        self.reader
            .client
            .get(url, self.out.progress(), pager.bytes_left())
            .await
    }

    /// Uses `smaller` pages from now on (unless another listing already
    /// went lower), and says so once per read.
    fn shrink_page_size(&self, tried: u32, smaller: u32, url: &Url, message: &str) {
        let _ = self
            .page_size
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |now| {
                Some(now.min(smaller))
            });
        if !self.page_size_warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                url = %redact(url),
                "the server refuses pages of {tried} ({message}); reading with pages of {smaller} — \
                 set page_size = {smaller} (or lower) in [source] to skip the refused request"
            );
        }
    }
}

/// Whether any entity of a filtered page predates the filter.
fn any_predates<T: Entity>(entities: &[T], after: DateTime<FixedOffset>) -> bool {
    entities.iter().any(|e| predates(e.meta(), after))
}

/// Whether a `400`'s message is about the page size rather than a filter.
pub(super) fn about_limit(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    !lower.contains("meta.")
        && ["limit", "page size", "pagesize", "page_size"]
            .iter()
            .any(|w| lower.contains(w))
}

/// The page to try after `limit` was refused with `message`: the largest
/// number below `limit` the message names (its maximum, e.g. "limit must
/// be at most 50"), else half, but not below [`MIN_FALLBACK_PAGE_SIZE`];
/// `None` when there is nothing smaller to try.
pub(super) fn smaller_page(limit: u32, message: &str) -> Option<u32> {
    let named = message
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse::<u32>().ok())
        .filter(|n| *n >= 1 && *n < limit)
        .max();
    match named {
        Some(named) => Some(named),
        None => {
            let half = limit / 2;
            (half >= MIN_FALLBACK_PAGE_SIZE).then_some(half)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    #[test]
    fn an_entity_predates_a_filter_when_both_stamps_lie_before_it_or_it_has_none() {
        let after = at("2025-03-01T12:00:00.500Z");
        let meta = |c: Option<&str>, m: Option<&str>| Meta {
            created: c.map(at),
            modified: m.map(at),
        };
        assert!(predates(&meta(None, None), after));
        assert!(predates(
            &meta(Some("2024-01-01T00:00:00Z"), Some("2025-02-01T00:00:00Z")),
            after
        ));
        assert!(!predates(
            &meta(Some("2024-01-01T00:00:00Z"), Some("2025-03-01T12:00:01Z")),
            after
        ));
        assert!(!predates(&meta(Some("2025-03-02T00:00:00Z"), None), after));
        // Within the second of the instant: a server keeping whole seconds.
        assert!(!predates(&meta(None, Some("2025-03-01T12:00:00Z")), after));
    }

    #[test]
    fn one_listing_of_a_kind_reads_it_in_full_and_the_other_stops() {
        let sent = Sent::default();
        assert!(!sent.in_full_by_other("meta.created.after"));
        assert!(sent.claim_in_full("meta.modified.after"));
        assert!(sent.claim_in_full("meta.modified.after"), "still its own");
        assert!(!sent.claim_in_full("meta.created.after"));
        assert!(sent.in_full_by_other("meta.created.after"));
        assert!(!sent.in_full_by_other("meta.modified.after"));
    }

    #[tokio::test]
    async fn the_second_listing_waits_for_the_first_page_of_the_first() {
        let sent = Sent::default();
        let wait = std::time::Duration::from_millis(50);
        assert!(
            tokio::time::timeout(wait, sent.first_page_judged())
                .await
                .is_err(),
            "no page judged yet"
        );
        let (waited, ()) = tokio::join!(
            tokio::time::timeout(std::time::Duration::from_secs(5), sent.first_page_judged()),
            async { sent.page_judged() }
        );
        assert!(waited.is_ok(), "told when the page was judged");
        // Judged once, told at once from then on.
        assert!(
            tokio::time::timeout(wait, sent.first_page_judged())
                .await
                .is_ok()
        );
    }

    #[test]
    fn a_400_about_limit_is_told_from_one_about_a_filter() {
        assert!(about_limit("InvalidParameter: limit must be at most 50"));
        assert!(about_limit("Page size too large"));
        assert!(!about_limit("meta.created.after is not supported"));
        assert!(!about_limit("Bad Request"));
    }

    #[test]
    fn a_smaller_page_is_the_maximum_named_or_half() {
        assert_eq!(
            smaller_page(100, "limit must be between 1 and 50"),
            Some(50)
        );
        assert_eq!(
            smaller_page(100, "limit 100 exceeds the maximum 25"),
            Some(25)
        );
        assert_eq!(smaller_page(100, "limit too large"), Some(50));
        assert_eq!(smaller_page(40, "limit too large"), Some(20));
        assert_eq!(smaller_page(15, "limit too large"), None);
        assert_eq!(smaller_page(10, "limit too large"), None);
        assert_eq!(smaller_page(100, "limit must be at most 5"), Some(5));
        assert_eq!(smaller_page(5, "limit must be at most 5"), None);
    }
}
