//! Vocabulary shared by every layer: the application error family.
//!
//! Which error where: domain value types return their own `*Error` enums;
//! use cases return a `*Error` enum per use case and convert it into
//! [`AppError`] beside the use case (exhaustively, no `_` arm); the api layer
//! turns `AppError` into problem+json in exactly one place (`api::problem`).
//! Nothing here knows about HTTP or SQL.

mod error;

pub use error::{AppError, BoxError, ErrorChain, FieldProblem};
