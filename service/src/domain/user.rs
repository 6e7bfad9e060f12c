//! The `User` aggregate.

use std::fmt;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Email, FullName};

/// The identity of a [`User`]: a UUID, assigned once and never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(Uuid);

impl UserId {
    /// Wraps an id that came from an id generator or from storage.
    pub fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    /// Parses the textual form (hyphenated, simple, braced or URN UUID).
    ///
    /// Returns `None` when the text is not a UUID: callers treat that as
    /// "no such user", never as an internal error.
    pub fn parse(raw: &str) -> Option<Self> {
        Uuid::try_parse(raw).ok().map(Self)
    }

    /// Parses the one textual form the service hands out: the hyphenated
    /// UUID (`0195f1c4-6c2b-7d4e-9a3b-5f6e7d8c9b0a`, hex digits in either case).
    ///
    /// Ids that clients send back (paths, cursors) are read with this, so
    /// each user has exactly one URL. Returns `None` for anything else,
    /// other UUID forms included.
    pub fn parse_hyphenated(raw: &str) -> Option<Self> {
        const HYPHENATED_LEN: usize = 36;
        if raw.len() == HYPHENATED_LEN {
            Self::parse(raw)
        } else {
            None
        }
    }

    /// The id as a UUID.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// A registered account holder; the aggregate root of the accounts domain.
///
/// Fields are private: a `User` changes only through its methods, which keep
/// `updated_at >= created_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    id: UserId,
    email: Email,
    full_name: FullName,
    is_active: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl User {
    /// Starts the life of a new user at `now`.
    pub fn register(
        id: UserId,
        email: Email,
        full_name: FullName,
        is_active: bool,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            email,
            full_name,
            is_active,
            created_at: now,
            updated_at: now,
        }
    }

    /// Rebuilds a user whose parts were validated when it was stored.
    ///
    /// For persistence adapters and the legacy import only.
    pub fn restore(
        id: UserId,
        email: Email,
        full_name: FullName,
        is_active: bool,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            email,
            full_name,
            is_active,
            created_at,
            updated_at: updated_at.max(created_at),
        }
    }

    /// Changes the full name; a change to the same value is not an update.
    pub fn rename(&mut self, full_name: FullName, now: DateTime<Utc>) {
        if self.full_name != full_name {
            self.full_name = full_name;
            self.touch(now);
        }
    }

    /// Activates or deactivates the account; setting the current value is not an update.
    pub fn set_active(&mut self, is_active: bool, now: DateTime<Utc>) {
        if self.is_active != is_active {
            self.is_active = is_active;
            self.touch(now);
        }
    }

    fn touch(&mut self, now: DateTime<Utc>) {
        self.updated_at = now.max(self.created_at);
    }

    /// The user's id.
    pub fn id(&self) -> UserId {
        self.id
    }

    /// The user's email address.
    pub fn email(&self) -> &Email {
        &self.email
    }

    /// The user's full name.
    pub fn full_name(&self) -> &FullName {
        &self.full_name
    }

    /// Whether the account is active.
    pub fn is_active(&self) -> bool {
        self.is_active
    }

    /// When the user registered.
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }

    /// When the user last changed.
    pub fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + seconds, 0).unwrap()
    }

    fn ada() -> User {
        User::register(
            UserId::from_uuid(Uuid::nil()),
            Email::parse("ada@example.com").unwrap(),
            FullName::parse("Ada").unwrap(),
            true,
            at(0),
        )
    }

    #[test]
    fn a_new_user_was_created_and_updated_at_the_same_instant() {
        let user = ada();
        assert_eq!(user.created_at(), user.updated_at());
        assert!(user.is_active());
    }

    #[test]
    fn changes_move_updated_at_and_no_op_changes_do_not() {
        let mut user = ada();
        user.rename(FullName::parse("Ada").unwrap(), at(5));
        user.set_active(true, at(5));
        assert_eq!(
            user.updated_at(),
            at(0),
            "no-op changes must not touch updated_at"
        );

        user.rename(FullName::parse("Ada Lovelace").unwrap(), at(10));
        assert_eq!(user.full_name().as_str(), "Ada Lovelace");
        assert_eq!(user.updated_at(), at(10));

        user.set_active(false, at(20));
        assert!(!user.is_active());
        assert_eq!(user.updated_at(), at(20));
    }

    #[test]
    fn updated_at_never_precedes_created_at_even_with_a_clock_going_backwards() {
        let mut user = ada();
        user.set_active(false, at(-100));
        assert_eq!(user.updated_at(), user.created_at());
        let restored = User::restore(
            user.id(),
            user.email().clone(),
            user.full_name().clone(),
            true,
            at(10),
            at(3),
        );
        assert_eq!(restored.updated_at(), at(10));
    }

    #[test]
    fn user_ids_parse_only_uuids() {
        let id = UserId::parse("0195f1c4-6c2b-7d4e-9a3b-5f6e7d8c9b0a").unwrap();
        assert_eq!(id.to_string(), "0195f1c4-6c2b-7d4e-9a3b-5f6e7d8c9b0a");
        for raw in [
            "",
            "42",
            "not-a-uuid",
            "0195f1c4-6c2b-7d4e-9a3b-5f6e7d8c9b0",
            "../etc",
        ] {
            assert_eq!(UserId::parse(raw), None, "input {raw:?}");
        }
    }

    #[test]
    fn the_hyphenated_form_is_the_only_one_clients_may_send_back() {
        let id = UserId::parse("0195f1c4-6c2b-7d4e-9a3b-5f6e7d8c9b0a").unwrap();
        assert_eq!(
            UserId::parse_hyphenated("0195F1C4-6C2B-7D4E-9A3B-5F6E7D8C9B0A"),
            Some(id)
        );
        for other_form in [
            "0195f1c46c2b7d4e9a3b5f6e7d8c9b0a",
            "{0195f1c4-6c2b-7d4e-9a3b-5f6e7d8c9b0a}",
            "urn:uuid:0195f1c4-6c2b-7d4e-9a3b-5f6e7d8c9b0a",
            "0195f1c4-6c2b-7d4e-9a3b-5f6e7d8c9b0a ",
        ] {
            assert_eq!(UserId::parse(other_form.trim()), Some(id), "{other_form:?}");
            assert_eq!(UserId::parse_hyphenated(other_form), None, "{other_form:?}");
        }
    }
}
