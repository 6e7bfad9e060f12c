//! Creates `users`, with uniqueness of the email address decided on its lower-cased form.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{boolean, pk_uuid, string, timestamp_with_time_zone};

/// The migration.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Email,
    EmailCanonical,
    FullName,
    IsActive,
    CreatedAt,
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
                    .table(Users::Table)
                    .if_not_exists()
                    .col(pk_uuid(Users::Id))
                    .col(string(Users::Email))
                    .col(string(Users::EmailCanonical))
                    .col(string(Users::FullName))
                    .col(boolean(Users::IsActive))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .col(timestamp_with_time_zone(Users::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        // The database, not the application, guarantees one account per
        // address: concurrent registrations race here and exactly one wins.
        manager
            .create_index(
                Index::create()
                    .name("users_email_canonical_key")
                    .table(Users::Table)
                    .col(Users::EmailCanonical)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Users::Table).to_owned())
            .await
    }
}
