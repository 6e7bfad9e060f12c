//! Creates the gateway's shadow-comparison records: mismatches and outcome counts.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, double, integer, pk_uuid, string, text, timestamp_with_time_zone,
};

/// The migration.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum ShadowMismatches {
    Table,
    Id,
    Route,
    Template,
    Method,
    Path,
    RequestId,
    RecordedAt,
    Outcome,
    PrimarySide,
    PrimaryStatus,
    ShadowStatus,
    PrimaryLatencyMs,
    ShadowLatencyMs,
    Differences,
}

#[derive(DeriveIden)]
enum ShadowOutcomeCounts {
    Table,
    Route,
    Outcome,
    Count,
    UpdatedAt,
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
                    .table(ShadowMismatches::Table)
                    .if_not_exists()
                    .col(pk_uuid(ShadowMismatches::Id))
                    .col(string(ShadowMismatches::Route))
                    .col(string(ShadowMismatches::Template))
                    .col(string(ShadowMismatches::Method))
                    .col(text(ShadowMismatches::Path))
                    .col(string(ShadowMismatches::RequestId))
                    .col(timestamp_with_time_zone(ShadowMismatches::RecordedAt))
                    .col(string(ShadowMismatches::Outcome))
                    .col(string(ShadowMismatches::PrimarySide))
                    .col(integer(ShadowMismatches::PrimaryStatus))
                    .col(integer(ShadowMismatches::ShadowStatus))
                    .col(double(ShadowMismatches::PrimaryLatencyMs))
                    .col(double(ShadowMismatches::ShadowLatencyMs))
                    .col(text(ShadowMismatches::Differences))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("shadow_mismatches_route_id")
                    .table(ShadowMismatches::Table)
                    .col(ShadowMismatches::Route)
                    .col(ShadowMismatches::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("shadow_mismatches_recorded_at")
                    .table(ShadowMismatches::Table)
                    .col(ShadowMismatches::RecordedAt)
                    .to_owned(),
            )
            .await?;
        // Every replica adds its counts here, so the summary covers them all.
        manager
            .create_table(
                Table::create()
                    .table(ShadowOutcomeCounts::Table)
                    .if_not_exists()
                    .col(string(ShadowOutcomeCounts::Route))
                    .col(string(ShadowOutcomeCounts::Outcome))
                    .col(big_integer(ShadowOutcomeCounts::Count))
                    .col(timestamp_with_time_zone(ShadowOutcomeCounts::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(ShadowOutcomeCounts::Route)
                            .col(ShadowOutcomeCounts::Outcome),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ShadowOutcomeCounts::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ShadowMismatches::Table).to_owned())
            .await
    }
}
