//! The pure comparison of two answers to one mirrored request: the
//! primary's (the one the client got) against the shadow's.
//!
//! Everything here is pure and deterministic: no I/O, no clock, no
//! randomness. The crate depends on no runtime (no async runtime, HTTP
//! server or client, database or telemetry crate), only on `http`, `bytes`,
//! `chrono` (to parse timestamps, never to read the clock), `serde`,
//! `serde_json` and `thiserror`; the test `tests/diff/purity.rs`
//! fails if `tokio`, `hyper`, `axum`, `sea-orm`, `sqlx`, `tracing` or
//! `opentelemetry` ever enters its dependency tree. Mirroring, capturing,
//! counting and recording are the gateway's `shadow` module.
//!
//! # Use
//!
//! The caller buffers both answers ([`Captured`]), looks up the route's
//! [`CompareRules`] and optional learned [`NoiseSet`] (from
//! [`detect_noise`]), calls [`compare`], and counts [`Comparison::outcome`]
//! by [`Outcome::label`]. Attempts that never reach a comparison are
//! recorded with [`Comparison::not_compared`] and a skip, drop or error
//! outcome, so every attempt is counted exactly once.
//!
//! # Files
//!
//! - `rules.rs`: [`CompareRules`], [`ArrayOrder`], [`RulesError`] and the
//!   defaults;
//! - `answer.rs`: [`Captured`] and [`CapturedBody`], the input;
//! - `report.rs`: [`Comparison`], [`Difference`] and [`DiffKind`], the
//!   output;
//! - `engine.rs`: [`compare`] and [`detect_noise`] (the same engine in
//!   learning mode);
//! - `preview.rs`: how header values and non-JSON bodies are shown;
//! - `format.rs`: [`Formats`] and [`Timestamps`], which differences of form
//!   are seen through, and [`parse_instant`];
//! - `noise.rs`: [`NoiseSet`], the learned noise;
//! - `pointer.rs`: [`IgnoreRule`], JSON Pointers with `*`;
//! - `canonical.rs`: canonical JSON and truncated rendering, without
//!   recursion;
//! - `outcome.rs`: [`Outcome`] and its reasons, with stable labels.
//!
//! # Rules
//!
//! - **Status** is compared exactly (path `status`).
//! - **Headers**: only those in [`CompareRules::compare_headers`] (default
//!   `content-type`). Names are case-insensitive; values are compared exactly
//!   as bytes, all values of a repeated header in order. A header present on
//!   one side only is a difference (`Missing` or `Added`). Path
//!   `header:<lower-case name>`.
//! - **Bodies**: if *either* body is [`CapturedBody::TooLarge`] or longer
//!   than [`CompareRules::max_body_bytes`], the outcome is
//!   `Skipped(BodyTooLarge)`, never a match; status and header differences
//!   are still listed for information. Otherwise:
//!   - if *both* `content-type`s are JSON (`application/json` or any
//!     `…/…+json`, parameters ignored) and both bodies parse, they are
//!     compared structurally, member by member, with JSON Pointer paths
//!     (`/items/0/name`); differences at the root use the path `body`;
//!   - if both are JSON types but only one body parses, one `TypeChanged`
//!     difference at `body`;
//!   - otherwise (not JSON, or neither parses) bytes are compared: one
//!     `BodyBytes` difference at `body`, each side rendered as its length,
//!     the offset of the first differing byte and a short preview from just
//!     before it (a JSON string for UTF-8, hex otherwise).
//! - **JSON values**: different types are `TypeChanged`; numbers are
//!   compared by value (`1 == 1.0`, and integers exactly even beyond 2^53);
//!   other scalars exactly, but for differences of form. A member of the primary absent from the shadow is
//!   `Missing`; a member only in the shadow is `Added`, unless
//!   [`CompareRules::allow_added_fields`], in which case it is no difference
//!   at all (the shadow may grow, as Diferencia's Subset mode).
//! - **Arrays** with [`ArrayOrder::Strict`]: item by item, plus one
//!   `ArrayLength` difference at the array (values: the two lengths) when the
//!   lengths differ. With [`ArrayOrder::Ignore`] (for every array of the
//!   body): compared as multisets of canonical JSON (members sorted, numbers
//!   normalised, nested arrays sorted too, so nested order never leaks in, the
//!   mistake of Diffy's PR #51); a difference is reported once, at the array,
//!   as `ArrayLength` or `ValueChanged`. Unordered items have no position, so
//!   only `*` reaches into them in rules. With `allow_added_fields`, items
//!   not matched exactly are paired up by a search bounded by
//!   [`PAIRING_BUDGET`] item pairs per comparison; past it the array is
//!   reported as changed.
//! - **Ignore rules** ([`CompareRules::parse_pointer`]) are RFC 6901 JSON
//!   Pointers where `*` is any array index or object key. A rule covers its
//!   node and everything below it (`/user` ignores `/user/name`). Differences
//!   there go to [`Comparison::ignored`], not [`Comparison::differences`].
//! - **Noise** ([`detect_noise`]): locations that differed between two
//!   answers of the primary to the same request, array positions generalised
//!   to `*`. Differences there (and not under an ignore rule, which wins) go
//!   to [`Comparison::noise`]. Noise can also cover `status`, a header, or the
//!   whole `body`.
//! - **Formats** ([`CompareRules::with_formats`], default
//!   [`Formats::default`]): two strings that both parse as timestamps
//!   ([`parse_instant`]: `YYYY-MM-DD`, `T` or a space, `HH:MM:SS`, any
//!   fraction, an optional `Z` or offset; a naive one read at the route's
//!   offset, UTC by default) are compared as instants, to the nanosecond;
//!   with `numeric_strings`, a string holding a JSON number is compared as
//!   that number. Values that differ as written but agree so are
//!   [`DiffKind::FormatChanged`] differences, listed in
//!   [`Comparison::formats`] (or, under an ignore rule or noise, in those
//!   lists as any difference there). [`Formats::STRICT`] compares every
//!   value as written. Unordered arrays and deep subtrees see through forms
//!   the same way (one `FormatChanged` at the array).
//! - **Outcome**: `Match` if there was no difference at all; `Mismatch` if
//!   any difference was real; otherwise `IgnoredOnly` if some difference was
//!   ignored or noise (counted apart from matches, unlike Scientist's early
//!   bug); otherwise `FormatOnly` (every difference was one of form: the
//!   answers agree, but not as written).
//! - **Bounds**: each list is in path order (status, headers by name, body
//!   parents before children, members by name, items by index) and keeps at
//!   most [`CompareRules::max_differences`] entries (`truncated` says so);
//!   rendered values keep at most [`CompareRules::max_value_chars`]
//!   characters, then `…`. Structures nested deeper than [`MAX_DEPTH`] are
//!   compared as canonical strings without recursion.

mod answer;
mod canonical;
mod engine;
mod format;
mod noise;
mod outcome;
mod pointer;
mod preview;
mod report;
mod rules;

pub use answer::{Captured, CapturedBody};
pub use engine::{MAX_DEPTH, PAIRING_BUDGET, compare, detect_noise};
pub use format::{Formats, Timestamps, parse_instant};
pub use noise::{NoisePathError, NoiseSet};
pub use outcome::{DropReason, ErrorReason, Outcome, SkipReason, UnknownOutcome};
pub use pointer::{IgnoreRule, PointerError};
pub use report::{Comparison, DiffKind, Difference};
pub use rules::{
    ArrayOrder, CompareRules, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_DIFFERENCES,
    DEFAULT_MAX_VALUE_CHARS, RulesError,
};
