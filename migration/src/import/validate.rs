//! From raw [`Fields`] to a [`Record`] by the accounts domain's own rules, and the in-file duplicate rule's reasons.
//!
//! Every rule a field breaks becomes one reason, `"<field>: <why>"`; the
//! email and full-name reasons are the domain's own messages. Timestamps are
//! RFC 3339, stored as UTC instants truncated to the microsecond (the
//! precision PostgreSQL keeps, so that a second run compares equal). An
//! `updated_at` before `created_at` is not rejected: it becomes `created_at`,
//! as [`User::restore`] makes it, so the stored user obeys the domain.

use accounts::domain::{Email, FullName, User, UserId};
use chrono::{DateTime, Timelike, Utc};
use uuid::Uuid;

use super::source::{Fields, Text};

/// A user as the `users` table stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Record {
    pub(super) id: Uuid,
    pub(super) email: String,
    pub(super) email_canonical: String,
    pub(super) full_name: String,
    pub(super) is_active: bool,
    pub(super) created_at: DateTime<Utc>,
    pub(super) updated_at: DateTime<Utc>,
}

impl From<&User> for Record {
    fn from(user: &User) -> Self {
        Self {
            id: user.id().as_uuid(),
            email: user.email().as_str().to_owned(),
            email_canonical: user.email().canonical(),
            full_name: user.full_name().as_str().to_owned(),
            is_active: user.is_active(),
            created_at: user.created_at(),
            updated_at: user.updated_at(),
        }
    }
}

/// Checks every field; the record, or every reason the row is rejected.
///
/// # Errors
///
/// The reasons, one per broken field, in column order.
pub(super) fn validate(fields: Fields) -> Result<Record, Vec<String>> {
    let mut reasons = Vec::new();
    let id = note(
        &mut reasons,
        "id",
        fields
            .id
            .map_err(str::to_owned)
            .and_then(|raw| UserId::parse(&raw).ok_or_else(|| "not a UUID".to_owned())),
    );
    let email = note(
        &mut reasons,
        "email",
        fields
            .email
            .map_err(str::to_owned)
            .and_then(|raw| Email::parse(&raw).map_err(|e| e.to_string())),
    );
    let full_name = note(
        &mut reasons,
        "full_name",
        fields
            .full_name
            .map_err(str::to_owned)
            .and_then(|raw| FullName::parse(&raw).map_err(|e| e.to_string())),
    );
    let is_active = note(
        &mut reasons,
        "is_active",
        fields.is_active.map_err(str::to_owned),
    );
    let created_at = note(&mut reasons, "created_at", timestamp(fields.created_at));
    let updated_at = note(&mut reasons, "updated_at", timestamp(fields.updated_at));
    match (id, email, full_name, is_active, created_at, updated_at) {
        (
            Some(id),
            Some(email),
            Some(full_name),
            Some(is_active),
            Some(created_at),
            Some(updated_at),
        ) => Ok(Record::from(&User::restore(
            id, email, full_name, is_active, created_at, updated_at,
        ))),
        _ => Err(reasons),
    }
}

/// The value, or `None` after noting `"<field>: <why>"` in `reasons`.
fn note<T>(reasons: &mut Vec<String>, field: &str, result: Result<T, String>) -> Option<T> {
    result
        .map_err(|why| reasons.push(format!("{field}: {why}")))
        .ok()
}

fn timestamp(raw: Text) -> Result<DateTime<Utc>, String> {
    let raw = raw.map_err(str::to_owned)?;
    let at = DateTime::parse_from_rfc3339(&raw)
        .map_err(|e| format!("not an RFC 3339 timestamp ({e})"))?
        .with_timezone(&Utc);
    Ok(at
        .with_nanosecond(at.nanosecond() / 1000 * 1000)
        .unwrap_or(at))
}

/// The reasons a row is rejected by the in-file rule, the first row with an
/// id, or with an address (ignoring case), wins: `id_first` and
/// `email_first` are the lines of the earlier rows that have them. Empty:
/// the row is admitted. The index of what is admitted is `seen`.
pub(super) fn duplicate_reasons(id_first: Option<u64>, email_first: Option<u64>) -> Vec<String> {
    let mut reasons = Vec::new();
    if let Some(first) = id_first {
        reasons.push(format!(
            "id: also on line {first}; the first row with an id wins"
        ));
    }
    if let Some(first) = email_first {
        reasons.push(format!(
            "email: the same address (ignoring case) is on line {first}; the first row wins"
        ));
    }
    reasons
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn fields() -> Fields {
        Fields {
            id: Ok("0195f1c4-6c2b-7d4e-9a3b-5f6e7d8c9b0a".to_owned()),
            email: Ok("  Ada@Example.COM ".to_owned()),
            full_name: Ok(" Ada Lovelace ".to_owned()),
            is_active: Ok(false),
            created_at: Ok("2019-05-06T09:08:09.123456789+02:00".to_owned()),
            updated_at: Ok("2020-01-02T03:04:05Z".to_owned()),
        }
    }

    #[test]
    fn a_valid_row_becomes_the_record_the_domain_would_store() {
        let record = validate(fields()).expect("valid");
        assert_eq!(
            record,
            Record {
                id: Uuid::from_u128(0x0195f1c4_6c2b_7d4e_9a3b_5f6e7d8c9b0a),
                email: "Ada@Example.COM".to_owned(),
                email_canonical: "ada@example.com".to_owned(),
                full_name: "Ada Lovelace".to_owned(),
                is_active: false,
                created_at: Utc
                    .with_ymd_and_hms(2019, 5, 6, 7, 8, 9)
                    .single()
                    .expect("a date")
                    .with_nanosecond(123_456_000)
                    .expect("a time"),
                updated_at: Utc
                    .with_ymd_and_hms(2020, 1, 2, 3, 4, 5)
                    .single()
                    .expect("a date"),
            }
        );
    }

    #[test]
    fn every_broken_field_gives_its_own_reason() {
        let reasons = validate(Fields {
            id: Ok("42".to_owned()),
            email: Ok("no-at-sign".to_owned()),
            full_name: Ok("  ".to_owned()),
            is_active: Err("must be true or false"),
            created_at: Ok("yesterday".to_owned()),
            updated_at: Err("missing"),
        })
        .expect_err("invalid");
        assert_eq!(reasons.len(), 6, "{reasons:?}");
        assert_eq!(reasons[0], "id: not a UUID");
        assert_eq!(
            reasons[1],
            "email: must be an address of the form name@example.com"
        );
        assert_eq!(reasons[2], "full_name: must not be empty");
        assert_eq!(reasons[3], "is_active: must be true or false");
        assert!(
            reasons[4].starts_with("created_at: not an RFC 3339 timestamp"),
            "{}",
            reasons[4]
        );
        assert_eq!(reasons[5], "updated_at: missing");
    }

    #[test]
    fn updated_before_created_is_normalised_as_the_domain_does() {
        let record = validate(Fields {
            updated_at: Ok("2001-01-01T00:00:00Z".to_owned()),
            ..fields()
        })
        .expect("valid");
        assert_eq!(record.updated_at, record.created_at);
    }

    #[test]
    fn a_duplicate_names_the_line_that_won() {
        assert!(duplicate_reasons(None, None).is_empty());
        let reasons = duplicate_reasons(Some(3), Some(5));
        assert_eq!(reasons.len(), 2);
        assert!(
            reasons[0].starts_with("id:") && reasons[0].contains("line 3"),
            "{reasons:?}"
        );
        assert!(
            reasons[1].starts_with("email:") && reasons[1].contains("line 5"),
            "{reasons:?}"
        );
    }
}
