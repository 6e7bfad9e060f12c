//! SeaORM entities, mirroring the tables the `migration` crate creates.

pub(crate) mod user;
