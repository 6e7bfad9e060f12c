//! The string formats of the wire as JSON Schema: what the email, full name and id fields accept.
//!
//! Each schema states the domain's rule exactly (`Email::parse`,
//! `FullName::parse`, `UserId::parse_hyphenated`): a `maxLength` that counts
//! the value as sent, and a `pattern` that reads the same as ECMA-262 (what
//! clients and Swagger UI use), Rust's `regex` and Python's `re` (what
//! schemathesis generates from). So the patterns use no look-around, no
//! `\s`, `\d` or `\p{…}`: every character class is spelled out. The tests
//! take the patterns from the served document and prove that each accepts
//! exactly what its parse accepts.

use std::borrow::Cow;

use serde_json::json;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::{PartialSchema, ToSchema};

use crate::domain::{Email, FullName};

/// Unicode `White_Space`, the characters `str::trim` removes.
const WHITESPACE: &str =
    r"\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";

/// Unicode control characters (general category `Cc`).
const CONTROL: &str = r"\u0000-\u001F\u007F-\u009F";

/// RFC 5322 `atext`, ASCII only: what an unquoted local part is made of.
const ATEXT: &str = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~-";

/// The rest of a host-name label after its first character: at most 63 in all, no hyphen last.
const LABEL_TAIL: &str = r"(?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";

/// A hyphenated UUID, hex digits in either case.
const USER_ID_PATTERN: &str =
    r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$";

/// The pattern of an email: surrounding whitespace, a dot-atom, `@`, labels, a TLD starting with a letter.
fn email_pattern() -> String {
    format!(
        "^[{WHITESPACE}]*[{ATEXT}]+(?:\\.[{ATEXT}]+)*@(?:[A-Za-z0-9]{LABEL_TAIL}\\.)+[A-Za-z]{LABEL_TAIL}[{WHITESPACE}]*$"
    )
}

/// The pattern of a full name: surrounding whitespace around a core that
/// starts and ends with neither whitespace nor a control character and holds
/// no control character.
fn full_name_pattern() -> String {
    format!(
        "^[{WHITESPACE}]*[^{CONTROL}{WHITESPACE}](?:[^{CONTROL}]*[^{CONTROL}{WHITESPACE}])?[{WHITESPACE}]*$"
    )
}

/// A string schema with `pattern`, a description and an example.
fn constrained(pattern: impl Into<String>, description: &str, example: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .description(Some(description))
        .examples([json!(example)])
}

/// The `Email` schema: an email address as the service accepts it.
#[derive(Debug)]
pub(crate) struct EmailFormat;

impl PartialSchema for EmailFormat {
    fn schema() -> RefOr<Schema> {
        let description = "An email address. Surrounding whitespace is trimmed; the rest is \
                           `local@domain`: an ASCII dot-atom local part (letters, digits and \
                           ``!#$%&'*+/=?^_`{|}~-``, dots only between them) and two or more \
                           host-name labels of 1 to 63 letters, digits or inner hyphens, the \
                           last one starting with a letter. At most 254 characters as sent.";
        constrained(email_pattern(), description, "ada@example.com")
            .max_length(Some(Email::MAX_CHARS))
            .into()
    }
}

impl ToSchema for EmailFormat {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Email")
    }
}

/// The `FullName` schema: a full name as the service accepts it.
#[derive(Debug)]
pub(crate) struct FullNameFormat;

impl PartialSchema for FullNameFormat {
    fn schema() -> RefOr<Schema> {
        let description = "A full name. Surrounding whitespace is trimmed; the rest is not empty \
                           and holds no control characters (newlines, tabs, NUL, …). At most \
                           200 characters as sent.";
        constrained(full_name_pattern(), description, "Ada Lovelace")
            .max_length(Some(FullName::MAX_CHARS))
            .into()
    }
}

impl ToSchema for FullNameFormat {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("FullName")
    }
}

/// The `UserId` schema: a user's id as the service hands it out and reads it back.
#[derive(Debug)]
pub(crate) struct UserIdFormat;

impl PartialSchema for UserIdFormat {
    fn schema() -> RefOr<Schema> {
        let description = "A user's id: a hyphenated UUID (hex digits in either case).";
        constrained(
            USER_ID_PATTERN,
            description,
            "0195f1c4-6c2b-7d4e-9a3b-5f6e7d8c9b0a",
        )
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
        .into()
    }
}

impl ToSchema for UserIdFormat {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("UserId")
    }
}

#[cfg(test)]
mod tests;
