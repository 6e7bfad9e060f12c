//! Where comparison results are kept: mismatch records, outcome counts per
//! minute, result epochs (rule changes, resets) and the service shares the
//! fleet accepted, in the database.
//!
//! Every replica writes here, so the records and the counts cover the whole
//! fleet. Writes go through a bounded queue ([`super::recorder`]); reads serve
//! the admin API, flip gating and [`super::results`].

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, ExprTrait,
    FromQueryResult, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::Serialize;
use uuid::Uuid;

use super::entity::{earned_share, mismatch, outcome_bucket, reset, rule_epoch};
use super::exchange::{RecordedBody, RecordedExchange, RecordedRequest};
use super::seal::{SealKey, Sealed};

/// A record's JSON columns read by [`ShadowStore::get`]: request, exchange, body, sealed original.
type Exchange = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// The shadow tables could not be read or written; the database's error is the source.
#[derive(Debug, thiserror::Error)]
#[error("the shadow tables could not be read or written")]
pub struct StoreError(#[from] DbErr);

/// Outcome label → count.
pub type OutcomeCounts = BTreeMap<String, u64>;

/// Where a count belongs: a route and the start of its bucket.
///
/// A bucket starts at a whole minute, or later in that minute at the instant
/// the route's results restarted (a reset, new comparison rules), so that no
/// bucket mixes comparisons from before and after a restart.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BucketKey {
    /// The route's name.
    pub route: String,
    /// The bucket's start.
    pub bucket: DateTime<Utc>,
}

/// Per-bucket counts: bucket → outcome label → count.
pub type BucketCounts = BTreeMap<BucketKey, OutcomeCounts>;

/// The service share the fleet accepted for a route, and when.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EarnedShare {
    /// The share, in percent.
    pub service_percent: f64,
    /// The version of the route table it was accepted with.
    pub table_version: String,
    /// When.
    pub accepted_at: DateTime<Utc>,
    /// What accepted it: `startup`, `file-change`, `sighup` or `admin`.
    pub trigger: String,
}

/// One recorded mismatch, as stored and as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MismatchRecord {
    /// The record's id (UUIDv7).
    pub id: Uuid,
    /// The route's name.
    pub route: String,
    /// The route's match, e.g. `pattern /v1/accounts/users/{id}`.
    pub template: String,
    /// The request method.
    pub method: String,
    /// The normalised request path.
    pub path: String,
    /// The request id, to find the request in logs.
    pub request_id: String,
    /// When the comparison ended.
    pub recorded_at: DateTime<Utc>,
    /// The outcome label (`mismatch`).
    pub outcome: String,
    /// The side that answered the client.
    pub primary_side: String,
    /// The primary's status.
    pub primary_status: u16,
    /// The mirror's status.
    pub shadow_status: u16,
    /// Time to the primary's response head, in milliseconds.
    pub primary_latency_ms: f64,
    /// Time to the mirror's response head, in milliseconds.
    pub shadow_latency_ms: f64,
    /// The differences: `[{path, kind, primary, shadow}]`, values truncated and redacted.
    pub differences: serde_json::Value,
    /// The request that produced it, redacted and bounded; `None` in records
    /// of earlier releases, and in lists (only [`ShadowStore::get`] reads it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<RecordedRequest>,
    /// Both answers as compared, redacted and bounded; `None` as for `request`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exchange: Option<RecordedExchange>,
    /// The request's body, redacted and bounded (what a replay resends);
    /// `None` as for `request`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_body: Option<RecordedBody>,
    /// What redaction changed in the request, as received: set by the
    /// mirror, stored only sealed under `shadow_records.seal_key` (dropped
    /// without one), unsealed by [`ShadowStore::get`]. Never serialised.
    #[serde(skip)]
    pub original: Sealed,
}

/// A record's columns but the request and the exchange: what lists read.
#[derive(Debug, FromQueryResult)]
struct RecordRow {
    id: Uuid,
    route: String,
    template: String,
    method: String,
    path: String,
    request_id: String,
    recorded_at: DateTime<Utc>,
    outcome: String,
    primary_side: String,
    primary_status: i32,
    shadow_status: i32,
    primary_latency_ms: f64,
    shadow_latency_ms: f64,
    differences: String,
}

/// The columns of [`RecordRow`].
const ROW_COLUMNS: [mismatch::Column; 14] = [
    mismatch::Column::Id,
    mismatch::Column::Route,
    mismatch::Column::Template,
    mismatch::Column::Method,
    mismatch::Column::Path,
    mismatch::Column::RequestId,
    mismatch::Column::RecordedAt,
    mismatch::Column::Outcome,
    mismatch::Column::PrimarySide,
    mismatch::Column::PrimaryStatus,
    mismatch::Column::ShadowStatus,
    mismatch::Column::PrimaryLatencyMs,
    mismatch::Column::ShadowLatencyMs,
    mismatch::Column::Differences,
];

/// The shadow tables, over the gateway's database pool.
#[derive(Clone)]
pub struct ShadowStore {
    db: DatabaseConnection,
    seal_key: Option<Arc<SealKey>>,
}

impl ShadowStore {
    /// Wraps a connection pool (the one the service uses is fine).
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db, seal_key: None }
    }

    /// Seals the originals of records' requests under `key` ([`super::seal`]).
    #[must_use]
    pub fn with_seal_key(mut self, key: Option<Arc<SealKey>>) -> Self {
        self.seal_key = key;
        self
    }

    /// Whether records' originals are sealed ([`ShadowStore::with_seal_key`]).
    pub fn seals(&self) -> bool {
        self.seal_key.is_some()
    }

    /// Stores mismatch records.
    ///
    /// # Errors
    ///
    /// [`StoreError`] with the database's error.
    pub async fn insert(&self, records: &[MismatchRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let rows = records.iter().map(|r| mismatch::ActiveModel {
            id: Set(r.id),
            route: Set(r.route.clone()),
            template: Set(r.template.clone()),
            method: Set(r.method.clone()),
            path: Set(r.path.clone()),
            request_id: Set(r.request_id.clone()),
            recorded_at: Set(r.recorded_at),
            outcome: Set(r.outcome.clone()),
            primary_side: Set(r.primary_side.clone()),
            primary_status: Set(i32::from(r.primary_status)),
            shadow_status: Set(i32::from(r.shadow_status)),
            primary_latency_ms: Set(r.primary_latency_ms),
            shadow_latency_ms: Set(r.shadow_latency_ms),
            differences: Set(r.differences.to_string()),
            request: Set(r
                .request
                .as_ref()
                .and_then(|v| serde_json::to_string(v).ok())),
            exchange: Set(r
                .exchange
                .as_ref()
                .and_then(|v| serde_json::to_string(v).ok())),
            request_body: Set(r
                .request_body
                .as_ref()
                .and_then(|v| serde_json::to_string(v).ok())),
            request_sealed: Set(match (&self.seal_key, &r.original) {
                (Some(key), Sealed::Original(original)) => key.seal(&r.id, original),
                _ => None,
            }),
        });
        mismatch::Entity::insert_many(rows)
            .exec_without_returning(&self.db)
            .await?;
        Ok(())
    }

    /// Adds `deltas` to the stored per-bucket counts, atomically per row whichever replica writes.
    ///
    /// # Errors
    ///
    /// [`StoreError`] with the database's error.
    pub async fn add_counts(&self, deltas: &BucketCounts) -> Result<(), StoreError> {
        for (key, outcomes) in deltas {
            for (outcome, delta) in outcomes {
                let row = outcome_bucket::ActiveModel {
                    route: Set(key.route.clone()),
                    bucket: Set(key.bucket),
                    outcome: Set(outcome.clone()),
                    count: Set(i64::try_from(*delta).unwrap_or(i64::MAX)),
                };
                // `count = stored + new`.
                let on_conflict = OnConflict::columns([
                    outcome_bucket::Column::Route,
                    outcome_bucket::Column::Bucket,
                    outcome_bucket::Column::Outcome,
                ])
                .value(
                    outcome_bucket::Column::Count,
                    Expr::col((outcome_bucket::Entity, outcome_bucket::Column::Count)).add(
                        Expr::col((Alias::new("excluded"), outcome_bucket::Column::Count)),
                    ),
                )
                .to_owned();
                outcome_bucket::Entity::insert(row)
                    .on_conflict(on_conflict)
                    .exec_without_returning(&self.db)
                    .await?;
            }
        }
        Ok(())
    }

    /// `route`'s stored counts (outcome → count) in the buckets that start at or after `since`
    /// (all of them when `None`), every replica's.
    ///
    /// # Errors
    ///
    /// [`StoreError`] with the database's error.
    pub async fn counts_since(
        &self,
        route: &str,
        since: Option<DateTime<Utc>>,
    ) -> Result<OutcomeCounts, StoreError> {
        let mut query = outcome_bucket::Entity::find()
            .select_only()
            .column(outcome_bucket::Column::Outcome)
            // PostgreSQL sums BIGINT into NUMERIC: cast back.
            .column_as(Expr::cust("CAST(SUM(count) AS BIGINT)"), "total")
            .filter(outcome_bucket::Column::Route.eq(route))
            .group_by(outcome_bucket::Column::Outcome);
        if let Some(since) = since {
            query = query.filter(outcome_bucket::Column::Bucket.gte(since));
        }
        let rows: Vec<(String, i64)> = query.into_tuple().all(&self.db).await?;
        Ok(rows
            .into_iter()
            .map(|(outcome, total)| (outcome, u64::try_from(total).unwrap_or(0)))
            .collect())
    }

    /// Since when the rules with `fingerprint` are in force for `route`; records `now` if never seen.
    ///
    /// With `changed_here` (this replica just changed the route's rules to
    /// these), a record older than another fingerprint's is a revert to old
    /// rules, and restarts at `now`; otherwise the earliest replica's instant
    /// stands, so replicas that pick up an edit one after another agree.
    ///
    /// # Errors
    ///
    /// [`StoreError`] with the database's error.
    pub async fn rule_epoch(
        &self,
        route: &str,
        fingerprint: &str,
        now: DateTime<Utc>,
        changed_here: bool,
    ) -> Result<DateTime<Utc>, StoreError> {
        let epochs = rule_epoch::Entity::find()
            .filter(rule_epoch::Column::Route.eq(route))
            .all(&self.db)
            .await?;
        let mine = epochs.iter().find(|e| e.fingerprint == fingerprint);
        let newest_other = epochs
            .iter()
            .filter(|e| e.fingerprint != fingerprint)
            .map(|e| e.since)
            .max();
        let restart = match mine {
            None => true,
            Some(mine) => changed_here && newest_other.is_some_and(|other| other > mine.since),
        };
        if !restart {
            return Ok(mine.map_or(now, |m| m.since));
        }
        let row = rule_epoch::ActiveModel {
            route: Set(route.to_owned()),
            fingerprint: Set(fingerprint.to_owned()),
            since: Set(now),
        };
        let mut on_conflict =
            OnConflict::columns([rule_epoch::Column::Route, rule_epoch::Column::Fingerprint]);
        let on_conflict = if mine.is_some() {
            on_conflict
                .update_column(rule_epoch::Column::Since)
                .to_owned()
        } else {
            // Another replica may have recorded it meanwhile: the earliest stands.
            on_conflict.do_nothing().to_owned()
        };
        rule_epoch::Entity::insert(row)
            .on_conflict(on_conflict)
            .exec_without_returning(&self.db)
            .await?;
        Ok(
            rule_epoch::Entity::find_by_id((route.to_owned(), fingerprint.to_owned()))
                .one(&self.db)
                .await?
                .map_or(now, |e| e.since),
        )
    }

    /// Resets `route`'s results: from `at` on, only newer comparisons count.
    ///
    /// # Errors
    ///
    /// [`StoreError`] with the database's error.
    pub async fn reset(&self, route: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let row = reset::ActiveModel {
            route: Set(route.to_owned()),
            reset_at: Set(at),
        };
        reset::Entity::insert(row)
            .on_conflict(
                OnConflict::column(reset::Column::Route)
                    .update_column(reset::Column::ResetAt)
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await?;
        Ok(())
    }

    /// When each route's results were last reset.
    ///
    /// # Errors
    ///
    /// [`StoreError`] with the database's error.
    pub async fn resets(&self) -> Result<BTreeMap<String, DateTime<Utc>>, StoreError> {
        Ok(reset::Entity::find()
            .all(&self.db)
            .await?
            .into_iter()
            .map(|r| (r.route, r.reset_at))
            .collect())
    }

    /// The service share the fleet accepted for each route.
    ///
    /// # Errors
    ///
    /// [`StoreError`] with the database's error.
    pub async fn earned_shares(&self) -> Result<BTreeMap<String, EarnedShare>, StoreError> {
        Ok(earned_share::Entity::find()
            .all(&self.db)
            .await?
            .into_iter()
            .map(|row| {
                (
                    row.route,
                    EarnedShare {
                        service_percent: row.service_percent,
                        table_version: row.table_version,
                        accepted_at: row.accepted_at,
                        trigger: row.trigger,
                    },
                )
            })
            .collect())
    }

    /// Records that `route`'s service share `share` was accepted.
    ///
    /// # Errors
    ///
    /// [`StoreError`] with the database's error.
    pub async fn record_share(&self, route: &str, share: &EarnedShare) -> Result<(), StoreError> {
        let row = earned_share::ActiveModel {
            route: Set(route.to_owned()),
            service_percent: Set(share.service_percent),
            table_version: Set(share.table_version.clone()),
            accepted_at: Set(share.accepted_at),
            trigger: Set(share.trigger.clone()),
        };
        earned_share::Entity::insert(row)
            .on_conflict(
                OnConflict::column(earned_share::Column::Route)
                    .update_columns([
                        earned_share::Column::ServicePercent,
                        earned_share::Column::TableVersion,
                        earned_share::Column::AcceptedAt,
                        earned_share::Column::Trigger,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await?;
        Ok(())
    }

    /// Lists records, newest first, optionally of one route, after the cursor `before` (an id).
    ///
    /// # Errors
    ///
    /// [`StoreError`] with the database's error.
    pub async fn list(
        &self,
        route: Option<&str>,
        before: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<MismatchRecord>, StoreError> {
        let mut query = mismatch::Entity::find()
            .select_only()
            .columns(ROW_COLUMNS)
            .order_by_desc(mismatch::Column::Id)
            .limit(limit);
        if let Some(route) = route {
            query = query.filter(mismatch::Column::Route.eq(route));
        }
        if let Some(before) = before {
            query = query.filter(mismatch::Column::Id.lt(before));
        }
        Ok(query
            .into_model::<RecordRow>()
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_record)
            .collect())
    }

    /// One record in full, with its request, its body and the exchange.
    ///
    /// # Errors
    ///
    /// [`StoreError`] with the database's error.
    pub async fn get(&self, id: Uuid) -> Result<Option<MismatchRecord>, StoreError> {
        let row = mismatch::Entity::find_by_id(id)
            .select_only()
            .columns(ROW_COLUMNS)
            .into_model::<RecordRow>()
            .one(&self.db)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let (request, exchange, body, sealed): Exchange = mismatch::Entity::find_by_id(id)
            .select_only()
            .columns([
                mismatch::Column::Request,
                mismatch::Column::Exchange,
                mismatch::Column::RequestBody,
                mismatch::Column::RequestSealed,
            ])
            .into_tuple()
            .one(&self.db)
            .await?
            .unwrap_or_default();
        let mut record = to_record(row);
        // A record written by an older or newer release may not parse: it is shown without them.
        record.request = request.and_then(|text| serde_json::from_str(&text).ok());
        record.exchange = exchange.and_then(|text| serde_json::from_str(&text).ok());
        record.request_body = body.and_then(|text| serde_json::from_str(&text).ok());
        record.original = match (sealed, &self.seal_key) {
            (None, _) => Sealed::None,
            (Some(text), Some(key)) => key.unseal(&id, &text),
            (Some(_), None) => Sealed::Unreadable(
                "sealed, but no shadow_records.seal_key is set to unseal it".to_owned(),
            ),
        };
        Ok(Some(record))
    }

    /// `route`'s stored counts per bucket that starts at or after `since`,
    /// oldest first, every replica's.
    ///
    /// # Errors
    ///
    /// [`StoreError`] with the database's error.
    pub async fn buckets_since(
        &self,
        route: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, OutcomeCounts)>, StoreError> {
        let rows = outcome_bucket::Entity::find()
            .filter(outcome_bucket::Column::Route.eq(route))
            .filter(outcome_bucket::Column::Bucket.gte(since))
            .order_by_asc(outcome_bucket::Column::Bucket)
            .all(&self.db)
            .await?;
        let mut buckets: Vec<(DateTime<Utc>, OutcomeCounts)> = Vec::new();
        for row in rows {
            let count = u64::try_from(row.count).unwrap_or(0);
            match buckets.last_mut() {
                Some((bucket, counts)) if *bucket == row.bucket => {
                    *counts.entry(row.outcome).or_default() += count;
                }
                _ => buckets.push((row.bucket, OutcomeCounts::from([(row.outcome, count)]))),
            }
        }
        Ok(buckets)
    }

    /// Deletes records older than `max_age`, then all but the newest `max_records`.
    ///
    /// # Errors
    ///
    /// [`StoreError`] with the database's error.
    pub async fn apply_retention(
        &self,
        max_records: u64,
        max_age: chrono::Duration,
    ) -> Result<u64, StoreError> {
        let cutoff = Utc::now() - max_age;
        let by_age = mismatch::Entity::delete_many()
            .filter(mismatch::Column::RecordedAt.lt(cutoff))
            .exec(&self.db)
            .await?
            .rows_affected;
        let oldest_kept = mismatch::Entity::find()
            .select_only()
            .column(mismatch::Column::Id)
            .order_by_desc(mismatch::Column::Id)
            .offset(max_records.saturating_sub(1))
            .limit(1)
            .into_tuple::<Uuid>()
            .one(&self.db)
            .await?;
        let by_count = match oldest_kept {
            Some(id) => {
                mismatch::Entity::delete_many()
                    .filter(mismatch::Column::Id.lt(id))
                    .exec(&self.db)
                    .await?
                    .rows_affected
            }
            None => 0,
        };
        Ok(by_age + by_count)
    }

    /// Deletes outcome buckets that start before `cutoff`.
    ///
    /// # Errors
    ///
    /// [`StoreError`] with the database's error.
    pub async fn forget_counts_before(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(outcome_bucket::Entity::delete_many()
            .filter(outcome_bucket::Column::Bucket.lt(cutoff))
            .exec(&self.db)
            .await?
            .rows_affected)
    }

    /// Checks the database answers.
    ///
    /// # Errors
    ///
    /// [`StoreError`] with the database's error.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.execute_unprepared("SELECT 1").await?;
        Ok(())
    }
}

#[cfg(test)]
impl MismatchRecord {
    /// A `GET /v1/accounts/users/7` mismatch of `route` with `differences`,
    /// legacy primary, as an earlier release recorded it (no request, no answers).
    pub(crate) fn for_test(route: &str, differences: serde_json::Value) -> Self {
        Self {
            id: Uuid::now_v7(),
            route: route.to_owned(),
            template: "pattern /v1/accounts/users/{id}".into(),
            method: "GET".into(),
            path: "/v1/accounts/users/7".into(),
            request_id: "req-1".into(),
            recorded_at: super::recorder::now(),
            outcome: "mismatch".into(),
            primary_side: "legacy".into(),
            primary_status: 200,
            shadow_status: 200,
            primary_latency_ms: 1.5,
            shadow_latency_ms: 2.5,
            differences,
            request: None,
            exchange: None,
            request_body: None,
            original: Sealed::None,
        }
    }
}

fn to_record(row: RecordRow) -> MismatchRecord {
    MismatchRecord {
        id: row.id,
        route: row.route,
        template: row.template,
        method: row.method,
        path: row.path,
        request_id: row.request_id,
        recorded_at: row.recorded_at,
        outcome: row.outcome,
        primary_side: row.primary_side,
        primary_status: u16::try_from(row.primary_status).unwrap_or(0),
        shadow_status: u16::try_from(row.shadow_status).unwrap_or(0),
        primary_latency_ms: row.primary_latency_ms,
        shadow_latency_ms: row.shadow_latency_ms,
        differences: serde_json::from_str(&row.differences).unwrap_or(serde_json::Value::Null),
        request: None,
        exchange: None,
        request_body: None,
        original: Sealed::None,
    }
}

#[cfg(test)]
mod tests;
