//! Where comparison results are kept: mismatch records and outcome counts in the database.
//!
//! Every replica writes here, so the records and the counts cover the whole
//! fleet. Writes go through a bounded queue ([`super::recorder`]); reads serve
//! the admin API.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, ExprTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde::Serialize;
use uuid::Uuid;

use super::entity::{mismatch, outcome_count};

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
}

/// The shadow tables, over the gateway's database pool.
#[derive(Clone)]
pub struct ShadowStore {
    db: DatabaseConnection,
}

impl ShadowStore {
    /// Wraps a connection pool (the one the service uses is fine).
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// Stores mismatch records.
    ///
    /// # Errors
    ///
    /// The database's error.
    pub async fn insert(&self, records: &[MismatchRecord]) -> Result<(), DbErr> {
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
        });
        mismatch::Entity::insert_many(rows)
            .exec_without_returning(&self.db)
            .await?;
        Ok(())
    }

    /// Adds `deltas` (route → outcome → count) to the stored counts.
    ///
    /// # Errors
    ///
    /// The database's error.
    pub async fn add_counts(
        &self,
        deltas: &BTreeMap<String, BTreeMap<String, u64>>,
    ) -> Result<(), DbErr> {
        let now = Utc::now();
        for (route, outcomes) in deltas {
            for (outcome, delta) in outcomes {
                let row = outcome_count::ActiveModel {
                    route: Set(route.clone()),
                    outcome: Set(outcome.clone()),
                    count: Set(i64::try_from(*delta).unwrap_or(i64::MAX)),
                    updated_at: Set(now),
                };
                // `count = stored + new`, atomically, whichever replica writes.
                let on_conflict = OnConflict::columns([
                    outcome_count::Column::Route,
                    outcome_count::Column::Outcome,
                ])
                .value(
                    outcome_count::Column::Count,
                    Expr::col((outcome_count::Entity, outcome_count::Column::Count)).add(
                        Expr::col((Alias::new("excluded"), outcome_count::Column::Count)),
                    ),
                )
                .update_column(outcome_count::Column::UpdatedAt)
                .to_owned();
                outcome_count::Entity::insert(row)
                    .on_conflict(on_conflict)
                    .exec_without_returning(&self.db)
                    .await?;
            }
        }
        Ok(())
    }

    /// The stored counts: route → outcome → count.
    ///
    /// # Errors
    ///
    /// The database's error.
    pub async fn counts(&self) -> Result<BTreeMap<String, BTreeMap<String, u64>>, DbErr> {
        let rows = outcome_count::Entity::find().all(&self.db).await?;
        let mut counts: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for row in rows {
            counts
                .entry(row.route)
                .or_default()
                .insert(row.outcome, u64::try_from(row.count).unwrap_or(0));
        }
        Ok(counts)
    }

    /// Lists records, newest first, optionally of one route, after the cursor `before` (an id).
    ///
    /// # Errors
    ///
    /// The database's error.
    pub async fn list(
        &self,
        route: Option<&str>,
        before: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<MismatchRecord>, DbErr> {
        let mut query = mismatch::Entity::find()
            .order_by_desc(mismatch::Column::Id)
            .limit(limit);
        if let Some(route) = route {
            query = query.filter(mismatch::Column::Route.eq(route));
        }
        if let Some(before) = before {
            query = query.filter(mismatch::Column::Id.lt(before));
        }
        Ok(query
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_record)
            .collect())
    }

    /// One record in full.
    ///
    /// # Errors
    ///
    /// The database's error.
    pub async fn get(&self, id: Uuid) -> Result<Option<MismatchRecord>, DbErr> {
        Ok(mismatch::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(to_record))
    }

    /// Deletes records older than `max_age`, then all but the newest `max_records`.
    ///
    /// # Errors
    ///
    /// The database's error.
    pub async fn apply_retention(
        &self,
        max_records: u64,
        max_age: chrono::Duration,
    ) -> Result<u64, DbErr> {
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

    /// Checks the database answers.
    ///
    /// # Errors
    ///
    /// The database's error.
    pub async fn ping(&self) -> Result<(), DbErr> {
        self.db.execute_unprepared("SELECT 1").await.map(drop)
    }
}

fn to_record(row: mismatch::Model) -> MismatchRecord {
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
    }
}
