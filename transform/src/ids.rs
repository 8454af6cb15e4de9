//! Provtjänst ids of the entities a pipeline owns, and derived EPPNs.
//!
//! Persons, duties, groups and activities need a UUID that stays the same
//! from run to run, or every nightly run would create everyone anew. SS 12000
//! APIs give UUIDs, which are used as they are; file exports give any key,
//! which is hashed: UUIDv5(namespace, `kind/source id`). The kind is part of
//! the name so a person `17` and a group `17` never share an id; the
//! namespace is per pipeline (`id_namespace`) so two pipelines never do.

use skolsync_model::ObjectType;
use uuid::Uuid;

use crate::config::IdStrategy;

/// The namespace used when the pipeline sets none:
/// UUIDv5(URL, `https://skolsync.invalid/provtjanst-ids`).
pub const DEFAULT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x0b8ee6f9_3e42_5962_a6c6_94c23f6bd8c2);

/// How ids are made for one pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdScheme {
    namespace: Uuid,
    strategy: IdStrategy,
}

impl IdScheme {
    /// The scheme for a configured namespace (a UUID, or text hashed into
    /// the default namespace) and strategy.
    pub fn new(namespace: Option<&str>, strategy: IdStrategy) -> Self {
        let namespace = match namespace.map(str::trim) {
            None | Some("") => DEFAULT_ID_NAMESPACE,
            Some(text) => Uuid::try_parse(text)
                .unwrap_or_else(|_| Uuid::new_v5(&DEFAULT_ID_NAMESPACE, text.as_bytes())),
        };
        IdScheme {
            namespace,
            strategy,
        }
    }

    /// The namespace ids are derived in.
    pub fn namespace(&self) -> Uuid {
        self.namespace
    }

    /// The provtjänst id of a `kind` entity with this source id.
    pub fn id(&self, kind: ObjectType, source_id: &str) -> Uuid {
        if self.strategy == IdStrategy::SourceUuid
            && let Some(uuid) = source_uuid(source_id)
        {
            return uuid;
        }
        let prefix = match kind {
            ObjectType::Person => "person/",
            ObjectType::Duty => "duty/",
            ObjectType::Group => "group/",
            ObjectType::Activity => "activity/",
        };
        let mut name = Vec::with_capacity(prefix.len() + source_id.len());
        name.extend_from_slice(prefix.as_bytes());
        name.extend_from_slice(source_id.trim().as_bytes());
        Uuid::new_v5(&self.namespace, &name)
    }

    /// The local part of a derived EPPN: the source id itself when it is a
    /// UUID (what many school IdPs assert), else UUIDv5 of it, so a key
    /// that might be a personnummer or a name never ends up in an EPPN.
    pub fn eppn_local_part(&self, source_id: &str) -> String {
        let uuid = source_uuid(source_id).unwrap_or_else(|| {
            let mut name = b"eppn/".to_vec();
            name.extend_from_slice(source_id.trim().as_bytes());
            Uuid::new_v5(&self.namespace, &name)
        });
        uuid.hyphenated().to_string()
    }
}

/// The source id as a UUID, if it is one (and not the nil UUID).
fn source_uuid(source_id: &str) -> Option<Uuid> {
    Uuid::try_parse(source_id.trim())
        .ok()
        .filter(|u| !u.is_nil())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_namespace_is_the_documented_v5() {
        assert_eq!(
            DEFAULT_ID_NAMESPACE,
            Uuid::new_v5(
                &Uuid::NAMESPACE_URL,
                b"https://skolsync.invalid/provtjanst-ids"
            )
        );
    }

    #[test]
    fn uuids_are_kept_other_keys_hashed_per_kind_and_namespace() {
        let scheme = IdScheme::new(None, IdStrategy::SourceUuid);
        let uuid = "3FA85F64-5717-4562-B3FC-2C963F66AFA6";
        assert_eq!(
            scheme.id(ObjectType::Person, uuid).to_string(),
            "3fa85f64-5717-4562-b3fc-2c963f66afa6"
        );
        let person = scheme.id(ObjectType::Person, "17");
        assert_eq!(person, scheme.id(ObjectType::Person, " 17 "));
        assert_ne!(person, scheme.id(ObjectType::Group, "17"));
        assert_ne!(
            person,
            IdScheme::new(Some("other pipeline"), IdStrategy::SourceUuid)
                .id(ObjectType::Person, "17")
        );
        let derived = IdScheme::new(None, IdStrategy::Derived);
        assert_ne!(
            derived.id(ObjectType::Person, uuid).to_string(),
            "3fa85f64-5717-4562-b3fc-2c963f66afa6"
        );
    }

    #[test]
    fn eppn_local_part_never_shows_a_non_uuid_key() {
        let scheme = IdScheme::new(None, IdStrategy::SourceUuid);
        let local = scheme.eppn_local_part("200901272385");
        assert!(!local.contains("200901272385"));
        assert_eq!(local.len(), 36);
        assert_eq!(
            scheme.eppn_local_part("3fa85f64-5717-4562-b3fc-2c963f66afa6"),
            "3fa85f64-5717-4562-b3fc-2c963f66afa6"
        );
    }
}
