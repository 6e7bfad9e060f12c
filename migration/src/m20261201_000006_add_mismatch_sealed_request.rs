//! What redaction changed in a mismatch's request, sealed, so a replay can
//! resend the request as it was received.
//!
//! One nullable text column on `shadow_mismatches`: `request_sealed`, the
//! original path and query and body encrypted by the gateway under
//! `shadow_records.seal_key` (written only when that key is set and
//! redaction changed something). Records of earlier releases, and replicas
//! of those releases during a rolling upgrade, leave it `NULL`
//! (expand/contract: nothing is renamed or dropped).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::text_null;

/// The migration.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum ShadowMismatches {
    Table,
    RequestSealed,
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
                    .add_column(text_null(ShadowMismatches::RequestSealed))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ShadowMismatches::Table)
                    .drop_column(ShadowMismatches::RequestSealed)
                    .to_owned(),
            )
            .await
    }
}
