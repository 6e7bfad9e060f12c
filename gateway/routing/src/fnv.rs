//! FNV-1a 64, the crate's one stable hash: the same in every process and
//! release. It names table versions and rule fingerprints
//! ([`stable_hash_hex`]) and, with a finaliser, places sticky canary keys in
//! buckets ([`crate::bucket_of`]). Changing it would move users between sides
//! and restart every route's results: never do it.

/// FNV-1a 64 offset basis.
const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a 64 prime.
const PRIME: u64 = 0x0000_0100_0000_01b3;

/// 64-bit FNV-1a of `bytes`.
pub(crate) fn fnv1a_64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(OFFSET_BASIS, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    })
}

/// 64-bit FNV-1a of `bytes` as 16 hex digits: stable across runs and processes.
pub(crate) fn stable_hash_hex(bytes: &[u8]) -> String {
    format!("{:016x}", fnv1a_64(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_fnv1a_64() {
        // Published FNV-1a 64 test vectors: stable whatever the process.
        assert_eq!(stable_hash_hex(b""), "cbf29ce484222325");
        assert_eq!(stable_hash_hex(b"a"), "af63dc4c8601ec8c");
        assert_eq!(stable_hash_hex(b"foobar"), "85944171f73967e8");
    }
}
