//! `routes.toml` texts for tests, built route by route, so that every suite
//! writes the same shapes the same way.
//!
//! ```
//! let text = test_support::RoutesToml::new("http://127.0.0.1:9")
//!     .accounts_to_service()
//!     .get_user("target = \"legacy\"\nshadow = { to = \"service\" }")
//!     .build();
//! assert!(text.contains("name = \"get-user\""));
//! ```

use std::fmt::Write as _;

/// A `routes.toml` under construction: `[legacy]`, `[defaults]`, `[shadow]` and `[[routes]]`.
///
/// `[shadow] max_busy = 1.0` is written unless a [`shadow_setting`](Self::shadow_setting)
/// sets `max_busy`: tests share a busy machine, and must not see mirrors
/// dropped for want of spare CPU (the headroom rule has its own unit tests).
#[derive(Debug, Clone)]
pub struct RoutesToml {
    legacy_url: String,
    connect_timeout: Option<String>,
    timeout: String,
    default_target: Option<String>,
    shadow: Vec<String>,
    routes: Vec<String>,
}

impl RoutesToml {
    /// Legacy at `legacy_url` with a 10 s timeout; no routes yet.
    pub fn new(legacy_url: &str) -> Self {
        Self {
            legacy_url: legacy_url.to_owned(),
            connect_timeout: None,
            timeout: "10s".to_owned(),
            default_target: None,
            shadow: Vec::new(),
            routes: Vec::new(),
        }
    }

    /// `[legacy] timeout` (humantime).
    #[must_use]
    pub fn legacy_timeout(mut self, timeout: &str) -> Self {
        timeout.clone_into(&mut self.timeout);
        self
    }

    /// `[legacy] connect_timeout` (humantime).
    #[must_use]
    pub fn connect_timeout(mut self, timeout: &str) -> Self {
        self.connect_timeout = Some(timeout.to_owned());
        self
    }

    /// `[defaults] target`.
    #[must_use]
    pub fn default_target(mut self, target: &str) -> Self {
        self.default_target = Some(target.to_owned());
        self
    }

    /// One more `[shadow]` line, e.g. `max_in_flight = 1`.
    #[must_use]
    pub fn shadow_setting(mut self, line: &str) -> Self {
        self.shadow.push(line.to_owned());
        self
    }

    /// A `[[routes]]` entry: `name`, `match = { MATCHER }`, then `body` (its other lines).
    #[must_use]
    pub fn route(mut self, name: &str, matcher: &str, body: &str) -> Self {
        self.routes.push(format!(
            "[[routes]]\nname = \"{name}\"\nmatch = {{ {matcher} }}\n{body}\n"
        ));
        self
    }

    /// Route `accounts`: `/v1/accounts` and below, to the service.
    #[must_use]
    pub fn accounts_to_service(self) -> Self {
        self.route(
            "accounts",
            "prefix = \"/v1/accounts\"",
            "target = \"service\"",
        )
    }

    /// Route `get-user`: `GET /v1/accounts/users/{id}`, with `body` (its target, shadow, canary, require …).
    #[must_use]
    pub fn get_user(self, body: &str) -> Self {
        self.route(
            "get-user",
            "path = \"/v1/accounts/users/{id}\", methods = [\"GET\"]",
            body,
        )
    }

    /// The file's text.
    pub fn build(&self) -> String {
        let mut text = format!(
            "# Written by the tests.\n[legacy]\nurl = \"{}\"\n",
            self.legacy_url
        );
        if let Some(timeout) = &self.connect_timeout {
            let _ = writeln!(text, "connect_timeout = \"{timeout}\"");
        }
        let _ = writeln!(text, "timeout = \"{}\"", self.timeout);
        if let Some(target) = &self.default_target {
            let _ = write!(text, "\n[defaults]\ntarget = \"{target}\"\n");
        }
        text.push_str("\n[shadow]\n");
        if !self.shadow.iter().any(|line| line.starts_with("max_busy")) {
            text.push_str("max_busy = 1.0\n");
        }
        for line in &self.shadow {
            text.push_str(line);
            text.push('\n');
        }
        for route in &self.routes {
            text.push('\n');
            text.push_str(route);
        }
        text
    }
}
