//! One validated `[[routes]]` entry: [`Route`], what it matches and who
//! serves it, its view for the admin endpoint, and the same route with its
//! service share held lower ([`Route::with_service_share_at_most`]).

use std::sync::Arc;

use http::Method;
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use crate::canary::CanaryPolicy;
use crate::conditions::{Conditions, RequestFacts};
use crate::matcher::Matcher;
use crate::path::NormalizedPath;
use crate::rewrite::{Rewrites, SideRewrite};
use crate::shadowing::{FlipRequirement, ShadowPolicy};
use crate::target::Target;

/// One `[[routes]]` entry, validated.
///
/// Built only by `validate.rs`; the table and the dead-route analysis read
/// its fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// Shared: every request of the route carries it to its metrics and access log.
    pub(crate) name: Arc<str>,
    pub(crate) matcher: Matcher,
    /// `matcher` as text, made once: requests of a shadowed route carry it.
    pub(crate) template: Arc<str>,
    pub(crate) conditions: Conditions,
    pub(crate) rewrites: Rewrites,
    pub(crate) methods: Option<Vec<Method>>,
    pub(crate) target: Target,
    /// The index, in the table's upstreams, of the one serving the legacy side.
    pub(crate) upstream: usize,
    pub(crate) upstream_name: String,
    pub(crate) line: usize,
    pub(crate) shadow: Option<Arc<ShadowPolicy>>,
    pub(crate) require: Option<FlipRequirement>,
    pub(crate) canary: Option<CanaryPolicy>,
    pub(crate) force: bool,
}

impl Route {
    /// The route's unique name (`[a-z0-9][a-z0-9_-]*`, at most 64 characters).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// [`Self::name`], shared: a clone is a reference count, not a copy.
    pub fn shared_name(&self) -> &Arc<str> {
        &self.name
    }

    /// The paths the route matches.
    pub fn matcher(&self) -> &Matcher {
        &self.matcher
    }

    /// The paths the route matches, as text (`pattern /v1/users/{id}`): the
    /// matcher's `Display`, made once with the route.
    pub fn template(&self) -> &Arc<str> {
        &self.template
    }

    /// What the route requires beyond method and path (host, headers, query).
    pub fn conditions(&self) -> &Conditions {
        &self.conditions
    }

    /// How `side`'s request differs from the client's, if it does.
    pub fn rewrite(&self, side: Target) -> Option<&SideRewrite> {
        match side {
            Target::Legacy => self.rewrites.legacy.as_ref(),
            Target::Service => self.rewrites.service.as_ref(),
        }
    }

    /// The methods matched, uppercase and without duplicates; `None` means all.
    pub fn methods(&self) -> Option<&[Method]> {
        self.methods.as_deref()
    }

    /// The side that answers the route's requests.
    pub fn target(&self) -> Target {
        self.target
    }

    /// The upstream serving the route's legacy side (`legacy` unless the
    /// route names another): its index in
    /// [`RouteTable::upstreams`](crate::RouteTable::upstreams).
    pub fn upstream(&self) -> usize {
        self.upstream
    }

    /// The name of [`Route::upstream`].
    pub fn upstream_name(&self) -> &str {
        &self.upstream_name
    }

    /// Whether any of the route's requests reach its legacy upstream: it is
    /// the target, or a canary or the mirror sends requests there.
    pub fn reaches_legacy(&self) -> bool {
        self.target == Target::Legacy
            || self.canary.as_ref().is_some_and(|c| c.to == Target::Legacy)
            || self.shadow.as_ref().is_some_and(|s| s.to == Target::Legacy)
    }

    /// The line of the route's `[[routes]]` header in the file (1-based).
    pub fn line(&self) -> usize {
        self.line
    }

    /// How the route is mirrored, if it is.
    pub fn shadow(&self) -> Option<&Arc<ShadowPolicy>> {
        self.shadow.as_ref()
    }

    /// How a share of the route's requests goes to the other side, if it does.
    pub fn canary(&self) -> Option<&CanaryPolicy> {
        self.canary.as_ref()
    }

    /// The share of the route's requests the service answers, in percent.
    pub fn service_percent(&self) -> f64 {
        let canary = self.canary.as_ref().map_or(0.0, |c| c.percent);
        match self.target {
            Target::Service => 100.0 - canary,
            Target::Legacy => canary,
        }
    }

    /// This route with its service share lowered to at most `percent` (a flip not yet earned).
    ///
    /// A legacy-served route keeps its canary, with the smaller share (none
    /// at 0 %). A service-served route is served by legacy instead, with a
    /// canary of `percent` to the service (keeping the file's sticky key) and
    /// its mirror, if any, turned towards the service. A route already at or
    /// below `percent` is returned unchanged.
    #[must_use]
    pub fn with_service_share_at_most(&self, percent: f64) -> Route {
        let percent = percent.clamp(0.0, 100.0);
        if self.service_percent() <= percent {
            return self.clone();
        }
        let sticky = self.canary.as_ref().and_then(|c| c.sticky.clone());
        let canary = (percent > 0.0).then(|| CanaryPolicy::new(Target::Service, percent, sticky));
        let shadow = self.shadow.as_ref().map(|shadow| {
            if shadow.to == Target::Legacy {
                Arc::new(ShadowPolicy {
                    to: Target::Service,
                    ..ShadowPolicy::clone(shadow)
                })
            } else {
                shadow.clone()
            }
        });
        Route {
            target: Target::Legacy,
            canary,
            shadow,
            ..self.clone()
        }
    }

    /// The `require` the file declares, if it does: only then are flips gated.
    pub fn declared_require(&self) -> Option<FlipRequirement> {
        self.require
    }

    /// Whether a reload may raise the service share without meeting `require`.
    pub fn force(&self) -> bool {
        self.force
    }

    /// What its shadow results must show before the route is ready to flip (defaults apply when absent).
    pub fn require(&self) -> FlipRequirement {
        self.require.unwrap_or_default()
    }

    /// Whether the route's method set includes `method`.
    pub fn allows(&self, method: &Method) -> bool {
        self.methods
            .as_ref()
            .is_none_or(|methods| methods.contains(method))
    }

    /// Whether the route matches this request (method and normalised path),
    /// for a request offering no host, headers or query: a route with
    /// conditions does not.
    pub fn matches(&self, method: &Method, path: &NormalizedPath) -> bool {
        self.matches_request(method, path, &RequestFacts::default())
    }

    /// Whether the route matches this request: method, normalised path and
    /// the conditions on its host, headers and query.
    pub fn matches_request(
        &self,
        method: &Method,
        path: &NormalizedPath,
        facts: &RequestFacts<'_>,
    ) -> bool {
        self.matcher.matches(path.as_str())
            && self.allows(method)
            && (self.conditions.is_empty() || self.conditions.matches(facts))
    }
}

impl Serialize for Route {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let methods: Option<Vec<&str>> = self
            .methods
            .as_ref()
            .map(|methods| methods.iter().map(Method::as_str).collect());
        let mut fields = serializer.serialize_struct("Route", 12)?;
        fields.serialize_field("name", &self.name)?;
        fields.serialize_field("target", &self.target)?;
        fields.serialize_field("upstream", &self.upstream_name)?;
        fields.serialize_field("line", &self.line)?;
        fields.serialize_field("methods", &methods)?;
        fields.serialize_field("match", &self.matcher)?;
        if self.rewrites == Rewrites::default() {
            fields.skip_field("rewrite")?;
        } else {
            fields.serialize_field("rewrite", &self.rewrites)?;
        }
        if self.conditions.is_empty() {
            fields.skip_field("conditions")?;
        } else {
            fields.serialize_field("conditions", &self.conditions)?;
        }
        fields.serialize_field("shadow", &self.shadow)?;
        fields.serialize_field("require", &self.require())?;
        fields.serialize_field("canary", &self.canary)?;
        fields.serialize_field("service_percent", &self.service_percent())?;
        fields.end()
    }
}
