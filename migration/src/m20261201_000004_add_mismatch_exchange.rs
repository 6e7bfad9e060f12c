//! What the console's diff view (and a later replay) needs with each mismatch record.
//!
//! Two nullable text columns on `shadow_mismatches`, each JSON written by the gateway:
//!
//! - `request`: the request that produced the mismatch (method, normalised
//!   path and query, headers), redacted and bounded.
//! - `exchange`: both answers as compared (the compared headers and the
//!   bodies), redacted and bounded.
//!
//! Records of the previous release have neither (`NULL`); replicas of that
//! release keep inserting without them during a rolling upgrade
//! (expand/contract: nothing is renamed or dropped).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::text_null;

/// The migration.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum ShadowMismatches {
    Table,
    Request,
    Exchange,
}

#[async_trait::async_trait]
#[expect(
    elided_lifetimes_in_paths,
    reason = "the trait's signature elides it; naming it breaks async_trait's lifetime matching"
)]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one column per ALTER TABLE.
        for column in [ShadowMismatches::Request, ShadowMismatches::Exchange] {
            manager
                .alter_table(
                    Table::alter()
                        .table(ShadowMismatches::Table)
                        .add_column(text_null(column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [ShadowMismatches::Exchange, ShadowMismatches::Request] {
            manager
                .alter_table(
                    Table::alter()
                        .table(ShadowMismatches::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
