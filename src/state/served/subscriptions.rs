//! The subscriptions Skolverket's SS12000 client registers at a pull API
//! (`POST /subscriptions`), renews (`PATCH`) and removes (`DELETE`).
//!
//! A subscription lives until its `expires`; an expired one is no longer
//! listed as live nor renewable (the reference API does not check expiry
//! yet; we do, so a client that forgot us stops being notified).

use chrono::{DateTime, Utc};
use skolsync_model::ss12000::EntityKind;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use uuid::Uuid;

use super::served_kind;
use crate::state::{StateError, StateStore, now_text, parse_id, time_text};

/// A registered subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// Its id, chosen by us.
    pub id: Uuid,
    /// The client's descriptive name (`Webhook for ABC123`).
    pub name: String,
    /// Where notifications go.
    pub target: String,
    /// The types it wants to hear about (empty: every type).
    pub resource_types: Vec<EntityKind>,
    /// When it was created (RFC 3339, UTC).
    pub created: String,
    /// When it expires unless renewed (RFC 3339, UTC).
    pub expires: String,
}

impl StateStore {
    /// Registers a subscription of `dataset` that lives until `expires`.
    pub async fn create_subscription(
        &self,
        dataset: &str,
        name: &str,
        target: &str,
        resource_types: &[EntityKind],
        expires: DateTime<Utc>,
    ) -> Result<Subscription, StateError> {
        let subscription = Subscription {
            id: Uuid::new_v4(),
            name: name.to_string(),
            target: target.to_string(),
            resource_types: resource_types.to_vec(),
            created: now_text(),
            expires: time_text(expires),
        };
        let types: Vec<&str> = resource_types.iter().map(|k| k.type_name()).collect();
        let types = serde_json::Value::from(types).to_string();
        sqlx::query(
            "INSERT INTO served_subscriptions \
             (dataset, id, name, target, resource_types, created, expires) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(dataset)
        .bind(subscription.id.to_string())
        .bind(name)
        .bind(target)
        .bind(types)
        .bind(&subscription.created)
        .bind(&subscription.expires)
        .execute(self.pool())
        .await
        .map_err(StateError::query("record a subscription"))?;
        Ok(subscription)
    }

    /// Moves the expiry of a live subscription to `expires`; `None` if
    /// `dataset` has no such subscription or it has already expired.
    pub async fn renew_subscription(
        &self,
        dataset: &str,
        id: Uuid,
        expires: DateTime<Utc>,
    ) -> Result<Option<Subscription>, StateError> {
        let renewed = sqlx::query(
            "UPDATE served_subscriptions SET expires = $1 \
             WHERE dataset = $2 AND id = $3 AND expires > $4",
        )
        .bind(time_text(expires))
        .bind(dataset)
        .bind(id.to_string())
        .bind(now_text())
        .execute(self.pool())
        .await
        .map_err(StateError::query("renew a subscription"))?;
        if renewed.rows_affected() == 0 {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT id, name, target, resource_types, created, expires \
             FROM served_subscriptions WHERE dataset = $1 AND id = $2",
        )
        .bind(dataset)
        .bind(id.to_string())
        .fetch_optional(self.pool())
        .await
        .map_err(StateError::query("read a subscription"))?;
        row.as_ref().map(subscription_from_row).transpose()
    }

    /// Removes a subscription (live or expired); whether there was one.
    pub async fn delete_subscription(&self, dataset: &str, id: Uuid) -> Result<bool, StateError> {
        let deleted =
            sqlx::query("DELETE FROM served_subscriptions WHERE dataset = $1 AND id = $2")
                .bind(dataset)
                .bind(id.to_string())
                .execute(self.pool())
                .await
                .map_err(StateError::query("delete a subscription"))?;
        Ok(deleted.rows_affected() > 0)
    }

    /// The subscriptions of `dataset` that have not expired at `now`,
    /// oldest first.
    pub async fn live_subscriptions(
        &self,
        dataset: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Subscription>, StateError> {
        let rows = sqlx::query(
            "SELECT id, name, target, resource_types, created, expires \
             FROM served_subscriptions \
             WHERE dataset = $1 AND expires > $2 ORDER BY created, id",
        )
        .bind(dataset)
        .bind(time_text(now))
        .fetch_all(self.pool())
        .await
        .map_err(StateError::query("list subscriptions"))?;
        rows.iter().map(subscription_from_row).collect()
    }
}

fn subscription_from_row(row: &SqliteRow) -> Result<Subscription, StateError> {
    let err = StateError::query("read a subscription");
    let id: String = row.try_get("id").map_err(err)?;
    let types: String = row.try_get("resource_types").map_err(err)?;
    let names: Vec<String> = serde_json::from_str(&types).map_err(|e| {
        StateError::Corrupt(format!("subscription {id}: resource types `{types}`: {e}"))
    })?;
    let resource_types = names
        .iter()
        .map(|name| {
            served_kind(name).ok_or_else(|| {
                StateError::Corrupt(format!("subscription {id}: unknown resource type `{name}`"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Subscription {
        id: parse_id(&id)?,
        name: row.try_get("name").map_err(err)?,
        target: row.try_get("target").map_err(err)?,
        resource_types,
        created: row.try_get("created").map_err(err)?,
        expires: row.try_get("expires").map_err(err)?,
    })
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    async fn store() -> (tempfile::TempDir, StateStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path().join("s.sqlite")).await.unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn subscriptions_are_created_renewed_listed_and_deleted_per_dataset() {
        let (_dir, store) = store().await;
        let now = Utc::now();
        let kinds = [EntityKind::Person, EntityKind::Group];
        let a = store
            .create_subscription(
                "pull:a",
                "Webhook A",
                "https://x.se/w/1",
                &kinds,
                now + Duration::days(90),
            )
            .await
            .unwrap();
        store
            .create_subscription(
                "pull:b",
                "Webhook B",
                "https://x.se/w/2",
                &[],
                now + Duration::days(1),
            )
            .await
            .unwrap();
        let live = store.live_subscriptions("pull:a", now).await.unwrap();
        assert_eq!(live, vec![a.clone()]);
        assert_eq!(live[0].resource_types, kinds.to_vec());

        let later = now + Duration::days(120);
        let renewed = store
            .renew_subscription("pull:a", a.id, later)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(renewed.expires, time_text(later));
        assert!(
            store
                .renew_subscription("pull:b", a.id, later)
                .await
                .unwrap()
                .is_none()
        );

        assert!(!store.delete_subscription("pull:b", a.id).await.unwrap());
        assert!(store.delete_subscription("pull:a", a.id).await.unwrap());
        assert!(
            store
                .live_subscriptions("pull:a", now)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            store
                .renew_subscription("pull:a", a.id, later)
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn an_expired_subscription_is_neither_live_nor_renewable() {
        let (_dir, store) = store().await;
        let now = Utc::now();
        let gone = store
            .create_subscription(
                "d",
                "old",
                "https://x.se/w",
                &[],
                now - Duration::seconds(1),
            )
            .await
            .unwrap();
        assert!(store.live_subscriptions("d", now).await.unwrap().is_empty());
        let renewed = store
            .renew_subscription("d", gone.id, now + Duration::days(90))
            .await
            .unwrap();
        assert!(renewed.is_none());
        assert!(store.delete_subscription("d", gone.id).await.unwrap());
    }
}
