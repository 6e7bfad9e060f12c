//! The body of the request a mismatch came from, so a replay can resend it.
//!
//! One nullable text column on `shadow_mismatches`, JSON written by the
//! gateway: `request_body`, the request's body redacted and bounded (a
//! binary, redacted or over-bound body is recorded by its size only, and is
//! not replayed). Records of earlier releases have none (`NULL`); replicas of
//! those releases keep inserting without it during a rolling upgrade
//! (expand/contract: nothing is renamed or dropped).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::text_null;

/// The migration.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum ShadowMismatches {
    Table,
    RequestBody,
}

#[async_trait::async_trait]
#[expect(
    elided_lifetimes_in_paths,
    reason = "the trait's signature elides it; naming it breaks async_trait's lifetime matching"
)]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ShadowMismatches::Table)
                    .add_column(text_null(ShadowMismatches::RequestBody))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ShadowMismatches::Table)
                    .drop_column(ShadowMismatches::RequestBody)
                    .to_owned(),
            )
            .await
    }
}
