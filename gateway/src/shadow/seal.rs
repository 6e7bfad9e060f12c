//! Sealing what redaction took out of a recorded request, so a replay can
//! resend the request as it was received.
//!
//! A mismatch record keeps its request redacted ([`super::exchange`]): what
//! the console, the admin API and the database show never holds a value a
//! `[shadow] redact` name covers. A replay then has to send `[redacted]`
//! in their place, which a service validating its input refuses (a
//! registration whose `email` is `[redacted]` answers 422). With
//! `shadow_records.seal_key` set, a record whose query or body redaction
//! changed also keeps the original path and query and body
//! ([`Original`]), encrypted with AES-256-GCM under that key and bound to
//! the record's id, and a replay unseals them. Without the key nothing more
//! is stored. Redacted *headers* are never sealed (credentials would
//! outlive their request): a replay sends the request without them.
//!
//! The stored text is `v1.<key id>.<base64 of nonce, ciphertext and tag>`,
//! the key id being the first 8 bytes of the key's SHA-256 in hex, so a
//! record sealed under another key is told apart from a damaged one.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

/// The version prefix of sealed text.
const VERSION: &str = "v1";
/// Bytes of a key.
const KEY_BYTES: usize = 32;

/// What redaction replaced in a recorded request: the path and query and
/// the body as received. Never serialised in a record's public form.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Original {
    /// The normalised path and the query, unredacted.
    pub path_and_query: String,
    /// The body as received (base64 in the sealed form).
    #[serde(with = "base64_bytes")]
    pub body: Bytes,
}

impl std::fmt::Debug for Original {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // It holds what redaction hid: a log line never prints it.
        write!(f, "Original({} body bytes)", self.body.len())
    }
}

/// What a record holds of its original request, read back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Sealed {
    /// Nothing sealed: redaction changed nothing, no key was set, or an earlier release wrote it.
    #[default]
    None,
    /// Unsealed with the key in force.
    Original(Original),
    /// Sealed, but not readable now: why (another key, no key, damaged).
    Unreadable(String),
}

/// Why `shadow_records.seal_key` is not a key.
#[derive(Debug, thiserror::Error)]
#[error(
    "shadow_records.seal_key must be 32 bytes as 64 hex digits or base64 (e.g. `openssl rand -hex 32`); {0}"
)]
pub struct SealKeyError(String);

/// The key sealing the originals of recorded requests (AES-256-GCM).
pub struct SealKey {
    key: LessSafeKey,
    id: String,
}

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealKey({})", self.id)
    }
}

impl SealKey {
    /// A key from its text: 64 hex digits or the base64 of 32 bytes.
    ///
    /// # Errors
    ///
    /// [`SealKeyError`] when the text is neither, or not 32 bytes.
    pub fn parse(text: &str) -> Result<Self, SealKeyError> {
        let text = text.trim();
        let bytes = match decode_hex(text) {
            Some(bytes) => bytes,
            None => BASE64
                .decode(text)
                .map_err(|_| SealKeyError("it is neither hex nor base64".to_owned()))?,
        };
        if bytes.len() != KEY_BYTES {
            return Err(SealKeyError(format!("it is {} bytes", bytes.len())));
        }
        let unbound = UnboundKey::new(&AES_256_GCM, &bytes)
            .map_err(|_| SealKeyError("ring refused it".to_owned()))?;
        let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
        let id = digest.as_ref()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Self {
            key: LessSafeKey::new(unbound),
            id,
        })
    }

    /// The key's id as sealed text names it.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `original` sealed for the record `record_id`; `None` only if the
    /// system's random source fails (the record is then kept without it).
    pub fn seal(&self, record_id: &uuid::Uuid, original: &Original) -> Option<String> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).ok()?;
        let mut sealed = serde_json::to_vec(original).ok()?;
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(record_id.as_bytes()),
                &mut sealed,
            )
            .ok()?;
        let mut blob = Vec::with_capacity(NONCE_LEN + sealed.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&sealed);
        Some(format!("{VERSION}.{}.{}", self.id, BASE64.encode(blob)))
    }

    /// Reads what [`SealKey::seal`] wrote for `record_id`.
    pub fn unseal(&self, record_id: &uuid::Uuid, text: &str) -> Sealed {
        let mut parts = text.splitn(3, '.');
        let (Some(VERSION), Some(id), Some(blob)) = (parts.next(), parts.next(), parts.next())
        else {
            return Sealed::Unreadable("sealed in a form this release does not read".to_owned());
        };
        if id != self.id {
            return Sealed::Unreadable(format!(
                "sealed under another key ({id}; the key in force is {})",
                self.id
            ));
        }
        let damaged = || Sealed::Unreadable("the sealed original is damaged".to_owned());
        let Ok(mut blob) = BASE64.decode(blob) else {
            return damaged();
        };
        if blob.len() < NONCE_LEN {
            return damaged();
        }
        let mut sealed = blob.split_off(NONCE_LEN);
        let Ok(nonce) = Nonce::try_assume_unique_for_key(&blob) else {
            return damaged();
        };
        let Ok(plain) = self
            .key
            .open_in_place(nonce, Aad::from(record_id.as_bytes()), &mut sealed)
        else {
            return damaged();
        };
        match serde_json::from_slice(plain) {
            Ok(original) => Sealed::Original(original),
            Err(_) => damaged(),
        }
    }
}

/// Reads `text` when it is exactly 64 hex digits.
fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 2 * KEY_BYTES || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

/// Bytes as base64 text inside the sealed JSON.
mod base64_bytes {
    use super::BASE64;
    use base64::Engine;
    use bytes::Bytes;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        bytes: &Bytes,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&BASE64.encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Bytes, D::Error> {
        let text = String::deserialize(deserializer)?;
        BASE64
            .decode(text)
            .map(Bytes::from)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    const HEX_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn original() -> Original {
        Original {
            path_and_query: "/v1/accounts/users?token=abc".to_owned(),
            body: Bytes::from_static(br#"{"email":"ada@example.com"}"#),
        }
    }

    #[test]
    fn what_is_sealed_unseals_for_its_record_with_the_same_key() {
        let key = SealKey::parse(HEX_KEY).unwrap();
        let id = Uuid::now_v7();
        let sealed = key.seal(&id, &original()).unwrap();
        assert!(sealed.starts_with(&format!("v1.{}.", key.id())));
        assert!(!sealed.contains("ada@example.com"));
        assert_eq!(key.unseal(&id, &sealed), Sealed::Original(original()));
    }

    #[test]
    fn two_seals_of_the_same_original_differ() {
        let key = SealKey::parse(HEX_KEY).unwrap();
        let id = Uuid::now_v7();
        assert_ne!(key.seal(&id, &original()), key.seal(&id, &original()));
    }

    #[test]
    fn a_seal_moved_to_another_record_does_not_open() {
        let key = SealKey::parse(HEX_KEY).unwrap();
        let sealed = key.seal(&Uuid::now_v7(), &original()).unwrap();
        assert_eq!(
            key.unseal(&Uuid::now_v7(), &sealed),
            Sealed::Unreadable("the sealed original is damaged".to_owned())
        );
    }

    #[test]
    fn a_seal_under_another_key_is_named_as_such() {
        let key = SealKey::parse(HEX_KEY).unwrap();
        let other = SealKey::parse(&BASE64.encode([7u8; 32])).unwrap();
        let id = Uuid::now_v7();
        let sealed = other.seal(&id, &original()).unwrap();
        let Sealed::Unreadable(why) = key.unseal(&id, &sealed) else {
            panic!("another key's seal opened");
        };
        assert!(why.contains("another key"), "{why}");
        assert!(why.contains(other.id()), "{why}");
    }

    #[test]
    fn a_tampered_seal_does_not_open() {
        let key = SealKey::parse(HEX_KEY).unwrap();
        let id = Uuid::now_v7();
        let sealed = key.seal(&id, &original()).unwrap();
        let (head, blob) = sealed.rsplit_once('.').unwrap();
        let mut bytes = BASE64.decode(blob).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let tampered = format!("{head}.{}", BASE64.encode(bytes));
        assert!(matches!(key.unseal(&id, &tampered), Sealed::Unreadable(_)));
        assert!(matches!(key.unseal(&id, "v2.x.y"), Sealed::Unreadable(_)));
        assert!(matches!(
            key.unseal(&id, &format!("v1.{}.!!", key.id())),
            Sealed::Unreadable(_)
        ));
    }

    #[test]
    fn keys_are_64_hex_digits_or_base64_of_32_bytes() {
        assert!(SealKey::parse(&HEX_KEY.to_uppercase()).is_ok());
        assert_eq!(
            SealKey::parse(HEX_KEY).unwrap().id(),
            SealKey::parse(&BASE64.encode((0u8..32).collect::<Vec<_>>()))
                .unwrap()
                .id()
        );
        for bad in ["", "short", &HEX_KEY[..62], &BASE64.encode([1u8; 16])] {
            let err = SealKey::parse(bad).unwrap_err().to_string();
            assert!(err.contains("openssl rand -hex 32"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn debug_output_shows_neither_the_key_nor_the_original() {
        let key = SealKey::parse(HEX_KEY).unwrap();
        assert_eq!(format!("{key:?}"), format!("SealKey({})", key.id()));
        assert!(!format!("{:?}", original()).contains("ada"));
    }
}
