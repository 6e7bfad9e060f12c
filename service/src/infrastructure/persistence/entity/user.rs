//! The `users` table.

use sea_orm::entity::prelude::*;

/// One row of `users`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub(crate) struct Model {
    /// The user's id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The address as registered (trimmed, case kept).
    pub email: String,
    /// The lower-cased address; unique.
    #[sea_orm(unique)]
    pub email_canonical: String,
    /// The full name.
    pub full_name: String,
    /// Whether the account is active.
    pub is_active: bool,
    /// When the user registered.
    pub created_at: ChronoDateTimeUtc,
    /// When the user last changed.
    pub updated_at: ChronoDateTimeUtc,
}

/// `users` has no relations yet.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub(crate) enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
