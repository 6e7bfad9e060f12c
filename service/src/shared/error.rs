//! The application error family and its parts.

use std::fmt;

/// A cause the application carries for logs but never inspects.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// One problem with one input field, as listed to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    /// The field's name on the wire, e.g. `email`.
    pub field: String,
    /// A stable, kebab-case code, e.g. `required`, `invalid-email`.
    pub code: &'static str,
    /// A human-readable sentence fragment, e.g. `must not be empty`.
    pub detail: String,
}

impl FieldProblem {
    /// Builds a problem for `field`.
    pub fn new(field: impl Into<String>, code: &'static str, detail: impl fmt::Display) -> Self {
        Self {
            field: field.into(),
            code,
            detail: detail.to_string(),
        }
    }
}

/// Category of a failed use case; the api layer maps each to one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The input broke one or more rules; every problem is listed.
    #[error("the request has {} invalid field(s)", .0.len())]
    Validation(Vec<FieldProblem>),
    /// The addressed resource does not exist.
    #[error("{resource} not found")]
    NotFound {
        /// What was looked for, e.g. `user`.
        resource: &'static str,
    },
    /// The request conflicts with the current state.
    #[error("{detail}")]
    Conflict {
        /// A stable, kebab-case code, e.g. `email-taken`.
        code: &'static str,
        /// What conflicts, for the client.
        detail: String,
    },
    /// A dependency (the database) failed; the client may retry later.
    #[error("a dependency of the service is unavailable")]
    Unavailable(#[source] BoxError),
}

/// Displays an error and all its sources, separated by `: `.
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(err) = source {
            write!(f, ": {err}")?;
            source = err.source();
        }
        Ok(())
    }
}
