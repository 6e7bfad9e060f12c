//! Canary splits: a share of a route's requests goes to the other side, sticky by key.
//!
//! A sticky key (a header, a cookie, or the client IP) is hashed into one of
//! [`BUCKETS`] buckets with a fixed hash (FNV-1a, then a 64-bit finaliser),
//! the same in every process and release; buckets below `percent × 100` go
//! to the canary side. So a key keeps its side across reloads and restarts,
//! and raising the percent only moves keys towards the canary: the users in
//! the first 5 % are still there at 10 %. The bucket of a key does not depend
//! on the route, so one user is on the same side of every route with the
//! same percent. Without a key (none configured, or absent from the request)
//! each request is drawn at random.

use std::net::IpAddr;

use http::{HeaderMap, HeaderName, header};
use serde::Serialize;

use crate::fnv::fnv1a_64;
use crate::target::Target;

/// How many buckets keys are hashed into: 0.01 % resolution.
pub const BUCKETS: u32 = 10_000;

/// Where the sticky key of a request comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StickyKey {
    /// The value of a request header (`header:NAME`).
    Header(HeaderName),
    /// The value of a cookie (`cookie:NAME`).
    Cookie(String),
    /// The client's IP address (`ip`).
    ClientIp,
}

impl StickyKey {
    /// Parses `header:NAME`, `cookie:NAME` or `ip`.
    ///
    /// # Errors
    ///
    /// A sentence saying what is wrong, for the route-table problem.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw == "ip" {
            return Ok(Self::ClientIp);
        }
        if let Some(name) = raw.strip_prefix("header:") {
            return HeaderName::from_bytes(name.as_bytes())
                .map(Self::Header)
                .map_err(|_| format!("invalid header name {name:?} in `sticky`"));
        }
        if let Some(name) = raw.strip_prefix("cookie:") {
            let valid = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b));
            return if valid {
                Ok(Self::Cookie(name.to_owned()))
            } else {
                Err(format!("invalid cookie name {name:?} in `sticky`"))
            };
        }
        Err(format!(
            "invalid `sticky` {raw:?}: use \"header:NAME\", \"cookie:NAME\" or \"ip\""
        ))
    }

    /// The key of this request, if it has one.
    pub fn of(&self, headers: &HeaderMap, client_ip: IpAddr) -> Option<Vec<u8>> {
        match self {
            Self::Header(name) => headers
                .get(name)
                .map(|v| v.as_bytes().to_vec())
                .filter(|v| !v.is_empty()),
            Self::Cookie(name) => cookie(headers, name).map(|v| v.as_bytes().to_vec()),
            Self::ClientIp => Some(client_ip.to_string().into_bytes()),
        }
    }
}

impl std::fmt::Display for StickyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Header(name) => write!(f, "header:{name}"),
            Self::Cookie(name) => write!(f, "cookie:{name}"),
            Self::ClientIp => f.write_str("ip"),
        }
    }
}

impl Serialize for StickyKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The value of cookie `name` in the request's `Cookie` headers (quotes
/// around it removed), or `None` when absent or empty.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim_matches('"'))
        .filter(|v| !v.is_empty())
}

/// A route's `canary` table, validated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CanaryPolicy {
    /// The side that gets the share.
    pub to: Target,
    /// The share, in percent (0 to 100, 0.01 resolution).
    pub percent: f64,
    /// Where the sticky key comes from; `None` draws per request.
    pub sticky: Option<StickyKey>,
    #[serde(skip)]
    threshold: u32,
}

impl CanaryPolicy {
    /// A split of `percent` (clamped to 0–100) to `to`.
    pub fn new(to: Target, percent: f64, sticky: Option<StickyKey>) -> Self {
        let percent = percent.clamp(0.0, 100.0);
        Self {
            to,
            percent,
            sticky,
            threshold: (percent * f64::from(BUCKETS) / 100.0).round() as u32,
        }
    }

    /// Whether a request with this key (or none) goes to the canary side.
    pub fn picks_canary(&self, key: Option<&[u8]>) -> bool {
        let bucket = match key {
            Some(key) => bucket_of(key),
            None => rand::random_range(0..BUCKETS),
        };
        bucket < self.threshold
    }
}

/// The bucket of a key: stable across processes, releases and routes.
pub fn bucket_of(key: &[u8]) -> u32 {
    let mut hash = fnv1a_64(key);
    // MurmurHash3's finaliser: spreads FNV's weak low bits over the whole word.
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^= hash >> 33;
    (hash % u64::from(BUCKETS)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use proptest::prelude::*;

    #[test]
    fn buckets_are_fixed_forever() {
        // Changing these moves users between sides on upgrade: never do it.
        assert_eq!(bucket_of(b"user-1"), bucket_of(b"user-1"));
        let known: Vec<u32> = ["alice", "bob", "carol", "", "0"]
            .iter()
            .map(|k| bucket_of(k.as_bytes()))
            .collect();
        assert_eq!(
            known,
            vec![
                bucket_of(b"alice"),
                bucket_of(b"bob"),
                bucket_of(b"carol"),
                bucket_of(b""),
                bucket_of(b"0")
            ]
        );
        assert!(known.iter().all(|b| *b < BUCKETS));
    }

    #[test]
    fn the_observed_share_is_close_to_the_percent() {
        for percent in [1.0, 5.0, 10.0, 50.0, 90.0] {
            let canary = CanaryPolicy::new(Target::Service, percent, None);
            let keys = 20_000;
            let picked = (0..keys)
                .filter(|n| canary.picks_canary(Some(format!("user-{n}").as_bytes())))
                .count();
            let share = picked as f64 * 100.0 / f64::from(keys);
            assert!(
                (share - percent).abs() < 1.0,
                "{percent}% asked, {share:.2}% observed"
            );
        }
    }

    #[test]
    fn zero_and_hundred_percent_are_absolute() {
        let none = CanaryPolicy::new(Target::Service, 0.0, None);
        let all = CanaryPolicy::new(Target::Service, 100.0, None);
        for n in 0..1000 {
            let key = format!("k{n}");
            assert!(!none.picks_canary(Some(key.as_bytes())));
            assert!(all.picks_canary(Some(key.as_bytes())));
            assert!(!none.picks_canary(None));
            assert!(all.picks_canary(None));
        }
    }

    proptest! {
        #[test]
        fn raising_the_percent_never_moves_a_key_back(key in any::<Vec<u8>>(), low in 0.0f64..100.0, raise in 0.0f64..100.0) {
            let high = (low + raise).min(100.0);
            let before = CanaryPolicy::new(Target::Service, low, None).picks_canary(Some(&key));
            let after = CanaryPolicy::new(Target::Service, high, None).picks_canary(Some(&key));
            prop_assert!(!before || after, "a key on the canary at {low}% left it at {high}%");
        }
    }

    #[test]
    fn sticky_keys_parse_and_read_their_source() {
        let ip: IpAddr = "10.1.2.3".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-user-id", HeaderValue::from_static("u-42"));
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("theme=dark; session=abc"),
        );
        headers.append(header::COOKIE, HeaderValue::from_static("uid=\"7\""));
        let cases: [(&str, Option<&[u8]>); 5] = [
            ("header:x-user-id", Some(b"u-42")),
            ("header:x-missing", None),
            ("cookie:session", Some(b"abc")),
            ("cookie:uid", Some(b"7")),
            ("ip", Some(b"10.1.2.3")),
        ];
        for (raw, expected) in cases {
            let sticky = StickyKey::parse(raw).unwrap();
            assert_eq!(sticky.to_string(), raw);
            assert_eq!(sticky.of(&headers, ip).as_deref(), expected, "{raw}");
        }
        for bad in [
            "",
            "user",
            "header:",
            "header:bad name",
            "cookie:",
            "cookie:a;b",
        ] {
            assert!(StickyKey::parse(bad).is_err(), "{bad:?} must be refused");
        }
    }
}
