//! Reading an SS 12000 v2 API, shared by the `educloud` and `ss12000`
//! components.
//!
//! Each list endpoint is read page by page (`limit`, then `pageToken` with
//! `limit` only, as the spec requires) with the configured `expand`. A page
//! is parsed entity by entity with [`parse_entity`], so one bad entity
//! becomes a [`Reject`] located by endpoint path and page number and the
//! rest of the page is kept. Only one page per resource is held at a time.
//! A server that refuses the page size (`400` about `limit`) is asked
//! again with smaller pages for the rest of the read (`listing`).
//!
//! An incremental read ([`ReadOptions::modified_after`]) lists each
//! resource with `meta.modified.after` and again with `meta.created.after`
//! (servers differ in which they honour), sends each entity once, and ends
//! with `/deletedEntities`. What cannot be trusted is never skipped: a
//! server that ignores a filter has the kind sent in full
//! ([`Batch::ListedInFull`]); one that refuses a filter, or has no
//! `/deletedEntities`, fails the read with
//! [`SourceError::IncrementalUnsupported`] so the caller reads in full
//! (`listing`). The watermark of a read is its start by the server's clock
//! (the `Date` of its first answer).
//!
//! `/syllabuses` and `/programmes` are optional: Skolverket's SS 12000
//! subset (`skolverket-ss12000-subset.openapi.yml`) has only
//! `/organisations`, `/persons`, `/groups`, `/activities`, `/duties` and
//! `/deletedEntities`, so a server answering `404` on the first page of an
//! optional one is read without it, with a warning in the run's report. A
//! `404` on a required one is [`SourceError::ResourceMissing`].
//!
//! Order: organisations, programmes and syllabuses first (what others
//! refer to), then persons, duties, groups and activities; up to
//! `concurrency` listings at once — a resource on a full read; each of a
//! resource's two filtered listings, and `/deletedEntities`, on an
//! incremental one (all of them wait on one server's latency, and the
//! answers are merged only once the read is complete, so their order does
//! not matter). With a school unit filter the organisations and duties are
//! read in full first (`scoped`), then the rest. `/deletedEntities` is read
//! on incremental reads only: a full read has no use for it, since
//! whatever is absent is found by the diff.
//!
//! The `/subscriptions` endpoints (`subscriptions`) go through the same
//! HTTP client.

pub(crate) mod config;
mod guard;
pub(crate) mod http;
mod listing;
mod retry;
mod scope;
mod scoped;
mod subscriptions;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32};
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use reqwest::Url;
use serde::Deserialize;
use serde_json::value::RawValue;
use skolsync_model::reject::{Reject, Stage};
use skolsync_model::ss12000::{
    Activity, DeletedEntities, DeletedEntityIds, Duty, Entity, EntityKind, Group, Organisation,
    Person, Programme, Syllabus, parse_entity,
};
use tokio::sync::{Semaphore, SemaphorePermit};

pub(crate) use self::guard::ReadLimits;
use self::guard::{Pager, insecure_http_check};
use self::http::{HttpClient, HttpSettings, redact};
use self::listing::{Dest, Filter, Sent};
use self::scope::Scope;
use crate::error::{ConfigError, ConfigErrors, SourceError};
use crate::source::{Batch, BatchStream, Emitter, ReadOptions, spawn_reader};
use crate::ss12000::Resource;

/// Largest `limit` accepted in a config.
const MAX_PAGE_SIZE: u32 = 10_000;

/// The reading part of a connector's config.
pub(crate) struct ReadSettings<'a> {
    pub page_size: u32,
    pub resources: &'a [Resource],
    pub deleted_entities: bool,
    pub expand: &'a BTreeMap<String, Vec<String>>,
    pub school_units: &'a [String],
    pub concurrency: usize,
    pub limits: ReadLimits,
}

/// A validated API connector config.
pub(crate) struct ApiSettings {
    name: &'static str,
    /// Ends with `/`, so endpoints join onto it.
    base_url: Url,
    http: HttpSettings,
    page_size: u32,
    /// In reading order, without repeats.
    resources: Vec<EntityKind>,
    deleted_entities: bool,
    /// `expand` value per resource, comma separated.
    expand: HashMap<EntityKind, String>,
    school_units: Vec<String>,
    concurrency: usize,
    limits: ReadLimits,
}

impl ApiSettings {
    pub(crate) fn new(
        name: &'static str,
        base_url: &str,
        http: HttpSettings,
        read: ReadSettings<'_>,
    ) -> Result<ApiSettings, ConfigErrors> {
        let mut problems = ConfigErrors::new();
        let url = problems.take(base_url_checked(base_url, &http));
        for (field, value) in [
            ("max_pages", read.limits.max_pages),
            ("max_entities", read.limits.max_entities),
            ("max_response_bytes", read.limits.max_response_bytes),
        ] {
            if value == 0 {
                problems.push(ConfigError::invalid(field, "must be at least 1"));
            }
        }
        if !(1..=MAX_PAGE_SIZE).contains(&read.page_size) {
            problems.push(ConfigError::invalid(
                "page_size",
                format!("{} is not between 1 and {MAX_PAGE_SIZE}", read.page_size),
            ));
        }
        if read.resources.is_empty() {
            problems.push(ConfigError::invalid(
                "resources",
                "names no resource to read",
            ));
        }
        let wanted: HashSet<EntityKind> = read.resources.iter().map(|r| r.kind()).collect();
        let resources: Vec<EntityKind> = EntityKind::ALL
            .into_iter()
            .filter(|k| wanted.contains(k))
            .collect();
        let mut expand = HashMap::new();
        for (key, values) in read.expand {
            let Some(kind) = EntityKind::ALL
                .into_iter()
                .find(|k| k.endpoint() == key.trim())
            else {
                problems.push(ConfigError::invalid(
                    format!("expand.{key}"),
                    "is not a resource (organisations, persons, duties, groups, activities, syllabuses, programmes)",
                ));
                continue;
            };
            let joined = values
                .iter()
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
                .collect::<Vec<_>>()
                .join(",");
            if !joined.is_empty() {
                expand.insert(kind, joined);
            }
        }
        if wanted.contains(&EntityKind::Activity)
            && !wanted.contains(&EntityKind::Syllabus)
            && !read.expand.contains_key("activities")
        {
            // The transform finds an activity's test through its syllabus;
            // without the syllabus list, have it embedded.
            expand.insert(EntityKind::Activity, "syllabus".to_string());
        }
        let school_units: Vec<String> = read
            .school_units
            .iter()
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty())
            .collect();
        if !school_units.is_empty() && !wanted.contains(&EntityKind::Organisation) {
            problems.push(ConfigError::invalid(
                "resources",
                "must include `organisations` when `school_units` is set (the filter is found through them)",
            ));
        }
        if read.concurrency == 0 {
            problems.push(ConfigError::invalid("concurrency", "must be at least 1"));
        }
        let Some(url) = url else {
            return Err(problems);
        };
        problems.check()?;
        Ok(ApiSettings {
            name,
            base_url: url,
            http,
            page_size: read.page_size,
            resources,
            deleted_entities: read.deleted_entities,
            expand,
            school_units,
            concurrency: read.concurrency,
            limits: read.limits,
        })
    }
}

/// The base URL, parsed and checked (http(s), no query string, plain HTTP
/// only where allowed), ending in `/` so resource paths join under it.
fn base_url_checked(base_url: &str, http: &HttpSettings) -> Result<Url, ConfigError> {
    let mut url = Url::parse(base_url.trim()).map_err(|err| {
        ConfigError::invalid("base_url", format!("`{base_url}` is not a URL: {err}"))
    })?;
    if !matches!(url.scheme(), "https" | "http") || url.cannot_be_a_base() {
        return Err(ConfigError::invalid(
            "base_url",
            format!("`{}` is not an http(s) URL", redact(&url)),
        ));
    }
    if url.query().is_some() {
        return Err(ConfigError::invalid(
            "base_url",
            "must not carry a query string; give credentials in `auth`",
        ));
    }
    insecure_http_check(&url, http)?;
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// A built API source.
pub(crate) struct ApiSource {
    reader: Arc<Reader>,
}

struct Reader {
    settings: ApiSettings,
    client: HttpClient,
}

impl ApiSource {
    pub(crate) fn new(settings: ApiSettings) -> Result<ApiSource, ConfigError> {
        let client = HttpClient::new(&settings.http)?;
        Ok(ApiSource {
            reader: Arc::new(Reader { settings, client }),
        })
    }

    /// The source, when its settings could be made and its connector found
    /// no other problem; else every problem found.
    pub(crate) fn checked(
        settings: Option<ApiSettings>,
        problems: ConfigErrors,
    ) -> Result<ApiSource, ConfigErrors> {
        match settings {
            Some(settings) if problems.is_empty() => Ok(ApiSource::new(settings)?),
            _ => Err(problems),
        }
    }

    pub(crate) fn describe(&self) -> String {
        let url = redact(&self.reader.settings.base_url);
        format!(
            "{} {}",
            self.reader.settings.name,
            url.strip_suffix('/').unwrap_or(&url)
        )
    }

    /// Whether a read with `modified_after` reads only the changes: only
    /// when `/deletedEntities` is read, else removals would go unseen (and
    /// such a source is always read in full).
    pub(crate) fn reads_incrementally(&self) -> bool {
        self.reader.settings.deleted_entities
    }

    /// The source's `/subscriptions` endpoints.
    pub(crate) fn subscriptions(&self) -> Arc<dyn crate::subscription::Subscriptions> {
        Arc::new(subscriptions::ApiSubscriptions::new(Arc::clone(
            &self.reader,
        )))
    }

    pub(crate) fn read(&self, options: ReadOptions) -> BatchStream {
        let reader = Arc::clone(&self.reader);
        spawn_reader(options.progress.clone(), move |out| async move {
            // Without /deletedEntities an incremental read could not see
            // removals: such a source is always read in full.
            let after = options
                .modified_after
                .filter(|_| reader.settings.deleted_entities);
            let run = Run {
                listings: Arc::new(Semaphore::new(reader.settings.concurrency)),
                page_size: Arc::new(AtomicU32::new(reader.settings.page_size)),
                page_size_warned: Arc::new(AtomicBool::new(false)),
                reader,
                out,
                after,
                server_start: Arc::new(OnceLock::new()),
            };
            run.run().await
        })
    }
}

/// The SS 12000 entity types, with the batch that carries them and how a
/// school unit filter applies to them.
trait ApiEntity: Entity + Send + 'static {
    fn batch(entities: Vec<Self>) -> Batch;
    fn in_scope(&self, scope: &Scope) -> bool;
}

impl ApiEntity for Organisation {
    fn batch(entities: Vec<Self>) -> Batch {
        Batch::Organisations(entities)
    }
    fn in_scope(&self, scope: &Scope) -> bool {
        scope.keeps_organisation(self)
    }
}

impl ApiEntity for Person {
    fn batch(entities: Vec<Self>) -> Batch {
        Batch::Persons(entities)
    }
    fn in_scope(&self, scope: &Scope) -> bool {
        scope.keeps_person(self)
    }
}

impl ApiEntity for Duty {
    fn batch(entities: Vec<Self>) -> Batch {
        Batch::Duties(entities)
    }
    fn in_scope(&self, scope: &Scope) -> bool {
        scope.keeps_duty(self)
    }
}

impl ApiEntity for Group {
    fn batch(entities: Vec<Self>) -> Batch {
        Batch::Groups(entities)
    }
    fn in_scope(&self, scope: &Scope) -> bool {
        scope.is_within(&self.organisation.id)
    }
}

impl ApiEntity for Activity {
    fn batch(entities: Vec<Self>) -> Batch {
        Batch::Activities(entities)
    }
    fn in_scope(&self, scope: &Scope) -> bool {
        scope.is_within(&self.organisation.id)
    }
}

impl ApiEntity for Syllabus {
    fn batch(entities: Vec<Self>) -> Batch {
        Batch::Syllabuses(entities)
    }
    fn in_scope(&self, _scope: &Scope) -> bool {
        true
    }
}

impl ApiEntity for Programme {
    fn batch(entities: Vec<Self>) -> Batch {
        Batch::Programmes(entities)
    }
    fn in_scope(&self, _scope: &Scope) -> bool {
        true
    }
}

/// The read of one resource, boxed so it can be proven `Send`.
type ResourceRead = Pin<Box<dyn Future<Output = Result<(), SourceError>> + Send>>;

/// One read in progress; clones share it (one per resource read at once).
#[derive(Clone)]
struct Run {
    reader: Arc<Reader>,
    out: Emitter,
    after: Option<DateTime<FixedOffset>>,
    /// The server's clock at its first answer.
    server_start: Arc<OnceLock<DateTime<FixedOffset>>>,
    /// The page size in use: the configured one, or smaller once the
    /// server refused it (see `listing`).
    page_size: Arc<AtomicU32>,
    /// Whether the smaller page size was logged.
    page_size_warned: Arc<AtomicBool>,
    /// `concurrency` permits: a listing holds one while it reads.
    listings: Arc<Semaphore>,
}

/// A page as it arrives: the entities stay raw JSON until parsed one by one.
#[derive(Deserialize)]
struct RawPage<'a> {
    /// `None` when the key is missing; `null` reads as an empty list.
    #[serde(borrow, default, deserialize_with = "present")]
    data: Option<Vec<&'a RawValue>>,
    #[serde(default, rename = "pageToken")]
    page_token: Option<String>,
}

impl Run {
    async fn run(&self) -> Result<(), SourceError> {
        let started = Utc::now().fixed_offset();
        let entities = async {
            if self.reader.settings.school_units.is_empty() {
                self.read_kinds(&self.reader.settings.resources, None).await
            } else {
                self.read_scoped().await
            }
        };
        let deleted = async {
            match self.after {
                Some(after) if self.reader.settings.deleted_entities => {
                    self.read_deleted(after).await
                }
                _ => Ok(()),
            }
        };
        futures::try_join!(entities, deleted)?;
        let start = self.server_start.get().copied().unwrap_or(started);
        self.out
            .emit(Batch::Complete {
                watermark: Some(start),
            })
            .await?;
        Ok(())
    }

    /// Reads `kinds` to the stream, their listings `concurrency` at once
    /// (in this order: the permits are handed out first come, first
    /// served); the first error stops the others.
    async fn read_kinds(
        &self,
        kinds: &[EntityKind],
        scope: Option<Arc<Scope>>,
    ) -> Result<(), SourceError> {
        // The futures are made up front: a closure inside the combinator
        // would make the whole read's future fail the `Send` check.
        let mut reads: Vec<ResourceRead> = Vec::with_capacity(kinds.len());
        for kind in kinds.iter().copied() {
            let run = self.clone();
            let scope = scope.clone();
            reads.push(Box::pin(async move { run.read_kind(kind, scope).await }));
        }
        futures::future::try_join_all(reads).await?;
        Ok(())
    }

    /// A permit to run one listing: waits while `concurrency` listings run.
    async fn listing_permit(&self) -> Result<SemaphorePermit<'_>, SourceError> {
        self.listings
            .acquire()
            .await
            .map_err(|_| SourceError::Incomplete("the read was stopped".to_string()))
    }

    async fn read_kind(
        &self,
        kind: EntityKind,
        scope: Option<Arc<Scope>>,
    ) -> Result<(), SourceError> {
        match kind {
            EntityKind::Organisation => self.read_one::<Organisation>(scope).await,
            EntityKind::Person => self.read_one::<Person>(scope).await,
            EntityKind::Duty => self.read_one::<Duty>(scope).await,
            EntityKind::Group => self.read_one::<Group>(scope).await,
            EntityKind::Activity => self.read_one::<Activity>(scope).await,
            EntityKind::Syllabus => self.read_one::<Syllabus>(scope).await,
            EntityKind::Programme => self.read_one::<Programme>(scope).await,
        }
    }

    /// Reads one resource to the stream: all of it, or on an incremental
    /// read what changed.
    async fn read_one<T: ApiEntity>(&self, scope: Option<Arc<Scope>>) -> Result<(), SourceError> {
        let sent = Sent::default();
        match self.after {
            Some(after) => self.read_changed::<T>(after, scope, &sent).await?,
            None => {
                self.list::<T>(Filter::None, Dest::Emit { scope, sent: &sent })
                    .await?
            }
        };
        Ok(())
    }

    async fn emit_chunked<T: ApiEntity>(&self, mut entities: Vec<T>) -> Result<(), SourceError> {
        let size = self.page_size() as usize;
        while !entities.is_empty() {
            let rest = entities.split_off(size.min(entities.len()));
            self.out.emit(T::batch(entities)).await?;
            entities = rest;
        }
        Ok(())
    }

    fn endpoint(&self, path: &str) -> Result<Url, SourceError> {
        self.reader
            .settings
            .base_url
            .join(path)
            .map_err(|err| SourceError::Protocol {
                url: redact(&self.reader.settings.base_url),
                message: format!("cannot build the URL of `{path}`: {err}"),
            })
    }

    /// A `404` on the first page of `kind`'s list: a warning when the
    /// resource is optional (the read goes on without it), else an error
    /// naming it.
    async fn resource_missing(
        &self,
        kind: EntityKind,
        path: &str,
        url: String,
        message: String,
    ) -> Result<(), SourceError> {
        if !is_optional(kind) {
            return Err(SourceError::ResourceMissing {
                url,
                resource: kind.endpoint().to_string(),
                message,
            });
        }
        tracing::warn!(%url, "the server has no /{}; read without it", kind.endpoint());
        let warning = Reject::new(
            Stage::Extract,
            kind,
            format!(
                "the server does not offer /{} (HTTP 404); it is optional in Skolverket's SS 12000 \
                 profile, so the read goes on without it (activities then need their syllabus \
                 embedded, their parentActivity or an inline subject, enrolments their own educationCode)",
                kind.endpoint()
            ),
        )
        .warning()
        .at(format!("GET {path}"));
        self.out.emit(Batch::Rejects(vec![warning])).await?;
        Ok(())
    }

    /// Reads `/deletedEntities` since `after` for the configured types.
    async fn read_deleted(&self, after: DateTime<FixedOffset>) -> Result<(), SourceError> {
        let settings = &self.reader.settings;
        let endpoint = self.endpoint("deletedEntities")?;
        let first = |limit: u32, _: Filter| {
            let mut url = endpoint.clone();
            {
                let mut query = url.query_pairs_mut();
                query.append_pair("after", &after.to_rfc3339_opts(SecondsFormat::AutoSi, true));
                for kind in &settings.resources {
                    query.append_pair("entities", kind.type_name());
                }
                query.append_pair("limit", &limit.to_string());
            }
            url
        };
        let _permit = self.listing_permit().await?;
        let mut pager = Pager::new(settings.limits);
        pager.next_page(&endpoint)?;
        let (mut url, mut answer) = match self.first_request(&first, Filter::None, &pager).await {
            Ok(first) => first,
            Err(SourceError::Http {
                url,
                status: status @ (400 | 404 | 501),
                message,
                ..
            }) => {
                return Err(SourceError::IncrementalUnsupported {
                    url,
                    reason: format!(
                        "the server has no usable /deletedEntities (HTTP {status}: {message}), \
                         so removals would go unseen; set deleted_entities = false to always read in full"
                    ),
                });
            }
            Err(err) => return Err(err),
        };
        loop {
            pager.bytes += answer.body.len() as u64;
            let page: DeletedEntities =
                serde_json::from_slice(&answer.body).map_err(|err| SourceError::Protocol {
                    url: redact(&url),
                    message: format!("the answer is not an SS 12000 deletedEntities page: {err}"),
                })?;
            let mut ids = page.data;
            keep_kinds(&mut ids, &settings.resources);
            self.out.emit(Batch::Deleted(ids)).await?;
            let Some(token) = page.page_token.filter(|t| !t.trim().is_empty()) else {
                break;
            };
            (url, answer) = self.follow(&endpoint, &mut pager, &url, &token).await?;
        }
        Ok(())
    }
}

/// Whether a server may lack `kind`'s list: Skolverket's SS 12000 subset
/// serves organisations, persons, groups, activities and duties, not
/// syllabuses or programmes.
fn is_optional(kind: EntityKind) -> bool {
    matches!(kind, EntityKind::Syllabus | EntityKind::Programme)
}

/// Keeps the entities within `scope`. A plain function: the closure inside
/// must not become part of an async state (it would fail the `Send` check).
fn retain_in_scope<T: ApiEntity>(entities: &mut Vec<T>, scope: &Scope) {
    entities.retain(|e| e.in_scope(scope));
}

/// Drops deletions of types that are not read (a server that ignores
/// `entities` may send them all).
fn keep_kinds(ids: &mut DeletedEntityIds, kinds: &[EntityKind]) {
    for kind in EntityKind::ALL {
        if !kinds.contains(&kind) {
            skolsync_model::by_kind!(kind, &mut *ids, |list| list.clear());
        }
    }
}

/// A key that is present: `null` counts as an empty list.
fn present<'de, D, T>(deserializer: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Some(
        Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default(),
    ))
}

/// The entities of a page, a reject per entity that could not be read, and
/// the next page's token. `Err` when the body is not a page at all.
type ParsedPage<T> = (Vec<T>, Vec<Reject>, Option<String>);

fn parse_page<T: ApiEntity>(body: &[u8], location: &str) -> Result<ParsedPage<T>, String> {
    let page: RawPage<'_> = serde_json::from_slice(body).map_err(|err| {
        format!("the answer is not an SS 12000 page (`data` + `pageToken`): {err}")
    })?;
    let Some(data) = page.data else {
        return Err("the answer has no `data` list; is base_url the API's base?".to_string());
    };
    let mut entities = Vec::with_capacity(data.len());
    let mut rejects = Vec::new();
    for raw in data {
        match parse_entity::<T>(raw.get().as_bytes()) {
            Ok(entity) => entities.push(entity),
            Err(err) => {
                let mut reject = Reject::new(Stage::Extract, T::KIND, err.message)
                    .at(location)
                    .field(err.path, None);
                if let Some(id) = err.id {
                    reject = reject.id(id);
                }
                rejects.push(reject);
            }
        }
    }
    let next = page.page_token.filter(|t| !t.trim().is_empty());
    Ok((entities, rejects, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_entity_becomes_a_reject_and_the_rest_of_the_page_is_kept() {
        let body = br#"{"data": [
            {"id": "g1", "groupType": "Klass", "organisation": {"id": "o"}},
            {"id": "g2", "groupType": "Studiegrupp", "organisation": {"id": "o"}},
            {"id": "g3", "groupType": "Undervisning", "organisation": {"id": "o"}}
        ], "pageToken": "next"}"#;
        let (groups, rejects, next) =
            parse_page::<Group>(body, "GET /v2.0/groups (page 2)").unwrap();
        assert_eq!(groups.len(), 2);
        assert_eq!(next.as_deref(), Some("next"));
        assert_eq!(rejects.len(), 1);
        let r = &rejects[0];
        assert_eq!(r.source_id.as_deref(), Some("g2"));
        assert_eq!(r.field.as_deref(), Some("groupType"));
        assert_eq!(r.location.as_deref(), Some("GET /v2.0/groups (page 2)"));
        assert!(r.reason.contains("Studiegrupp"), "{}", r.reason);
    }

    #[test]
    fn the_last_page_has_no_token_and_a_non_page_is_an_error() {
        let (v, _, next) = parse_page::<Group>(br#"{"data": [], "pageToken": ""}"#, "x").unwrap();
        assert!(v.is_empty() && next.is_none());
        let (v, _, next) = parse_page::<Group>(br#"{"data": null}"#, "x").unwrap();
        assert!(v.is_empty() && next.is_none());
        assert!(parse_page::<Group>(b"<html>", "x").is_err());
        assert!(parse_page::<Group>(br#"{"items": []}"#, "x").is_err());
    }
}
