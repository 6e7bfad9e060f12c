//! The pure comparison of a primary answer with a shadow answer.

mod answer;
mod canonical;
mod engine;
mod noise;
mod outcome;
mod pointer;
mod preview;
mod report;
mod rules;

pub use answer::{Captured, CapturedBody};
pub use engine::{MAX_DEPTH, PAIRING_BUDGET, compare, detect_noise};
pub use noise::{NoisePathError, NoiseSet};
pub use outcome::{DropReason, ErrorReason, Outcome, SkipReason, UnknownOutcome};
pub use pointer::{IgnoreRule, PointerError};
pub use report::{Comparison, DiffKind, Difference};
pub use rules::{
    ArrayOrder, CompareRules, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_DIFFERENCES,
    DEFAULT_MAX_VALUE_CHARS, RulesError,
};
