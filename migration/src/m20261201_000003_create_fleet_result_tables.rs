//! Shadow results a fleet can judge: outcome counts per minute, result epochs, earned shares.
//!
//! - `shadow_outcome_buckets`: comparisons per route, bucket (a minute, or
//!   the instant a route's results restarted within it) and outcome, summed
//!   over every replica. The totals of `shadow_outcome_counts` are copied in
//!   as one bucket each (at the time they were last added to), so nothing
//!   counted before is lost; that table stays for replicas of the previous
//!   release during a rolling upgrade (expand/contract).
//! - `shadow_rule_epochs`: when each route's comparison rules (by
//!   fingerprint) came into force, so a changed rule is judged on new data.
//! - `shadow_resets`: when an operator last reset a route's results.
//! - `route_earned_shares`: the service share the fleet accepted for each
//!   route, so a restarted or added replica cannot serve an unearned flip.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, double, string, timestamp_with_time_zone};

/// The migration.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum ShadowOutcomeBuckets {
    Table,
    Route,
    Bucket,
    Outcome,
    Count,
}

#[derive(DeriveIden)]
enum ShadowRuleEpochs {
    Table,
    Route,
    Fingerprint,
    Since,
}

#[derive(DeriveIden)]
enum ShadowResets {
    Table,
    Route,
    ResetAt,
}

#[derive(DeriveIden)]
enum RouteEarnedShares {
    Table,
    Route,
    ServicePercent,
    TableVersion,
    AcceptedAt,
    Trigger,
}

#[async_trait::async_trait]
#[expect(
    elided_lifetimes_in_paths,
    reason = "the trait's signature elides it; naming it breaks async_trait's lifetime matching"
)]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ShadowOutcomeBuckets::Table)
                    .if_not_exists()
                    .col(string(ShadowOutcomeBuckets::Route))
                    .col(timestamp_with_time_zone(ShadowOutcomeBuckets::Bucket))
                    .col(string(ShadowOutcomeBuckets::Outcome))
                    .col(big_integer(ShadowOutcomeBuckets::Count))
                    .primary_key(
                        Index::create()
                            .col(ShadowOutcomeBuckets::Route)
                            .col(ShadowOutcomeBuckets::Bucket)
                            .col(ShadowOutcomeBuckets::Outcome),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("shadow_outcome_buckets_bucket")
                    .table(ShadowOutcomeBuckets::Table)
                    .col(ShadowOutcomeBuckets::Bucket)
                    .to_owned(),
            )
            .await?;
        // The totals counted so far, one bucket each: nothing is lost.
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO shadow_outcome_buckets (route, bucket, outcome, count) \
                 SELECT route, updated_at, outcome, count FROM shadow_outcome_counts",
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ShadowRuleEpochs::Table)
                    .if_not_exists()
                    .col(string(ShadowRuleEpochs::Route))
                    .col(string(ShadowRuleEpochs::Fingerprint))
                    .col(timestamp_with_time_zone(ShadowRuleEpochs::Since))
                    .primary_key(
                        Index::create()
                            .col(ShadowRuleEpochs::Route)
                            .col(ShadowRuleEpochs::Fingerprint),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ShadowResets::Table)
                    .if_not_exists()
                    .col(string(ShadowResets::Route).primary_key())
                    .col(timestamp_with_time_zone(ShadowResets::ResetAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RouteEarnedShares::Table)
                    .if_not_exists()
                    .col(string(RouteEarnedShares::Route).primary_key())
                    .col(double(RouteEarnedShares::ServicePercent))
                    .col(string(RouteEarnedShares::TableVersion))
                    .col(timestamp_with_time_zone(RouteEarnedShares::AcceptedAt))
                    .col(string(RouteEarnedShares::Trigger))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RouteEarnedShares::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ShadowResets::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ShadowRuleEpochs::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ShadowOutcomeBuckets::Table).to_owned())
            .await
    }
}
