//! SeaORM entities of the shadow records (tables created by the `migration` crate).

/// `shadow_mismatches`: one row per recorded mismatch.
pub(crate) mod mismatch {
    use sea_orm::entity::prelude::*;

    /// One row.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "shadow_mismatches")]
    pub(crate) struct Model {
        /// UUIDv7, so id order is time order.
        #[sea_orm(primary_key, auto_increment = false)]
        pub(crate) id: Uuid,
        /// The route's name.
        pub(crate) route: String,
        /// The route's match, e.g. `pattern /v1/accounts/users/{id}`.
        pub(crate) template: String,
        /// The request method.
        pub(crate) method: String,
        /// The normalised request path (query excluded).
        pub(crate) path: String,
        /// The request id.
        pub(crate) request_id: String,
        /// When the comparison ended.
        pub(crate) recorded_at: ChronoDateTimeUtc,
        /// `mismatch` (or another outcome label).
        pub(crate) outcome: String,
        /// The side that answered the client.
        pub(crate) primary_side: String,
        /// The primary's status.
        pub(crate) primary_status: i32,
        /// The mirror's status.
        pub(crate) shadow_status: i32,
        /// Time to the primary's response head.
        pub(crate) primary_latency_ms: f64,
        /// Time to the mirror's response head.
        pub(crate) shadow_latency_ms: f64,
        /// The differences as a JSON array (values truncated and redacted).
        pub(crate) differences: String,
        /// The request, as JSON ([`crate::shadow::exchange::RecordedRequest`]); `NULL` in older records.
        pub(crate) request: Option<String>,
        /// Both answers, as JSON ([`crate::shadow::exchange::RecordedExchange`]); `NULL` in older records.
        pub(crate) exchange: Option<String>,
        /// The request's body, as JSON ([`crate::shadow::exchange::RecordedBody`]); `NULL` in older records.
        pub(crate) request_body: Option<String>,
        /// What redaction changed, sealed ([`crate::shadow::seal`]); `NULL` when nothing was sealed.
        pub(crate) request_sealed: Option<String>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `shadow_outcome_buckets`: comparisons per route, bucket and outcome, summed over replicas.
pub(crate) mod outcome_bucket {
    use sea_orm::entity::prelude::*;

    /// One row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "shadow_outcome_buckets")]
    pub(crate) struct Model {
        /// The route's name.
        #[sea_orm(primary_key, auto_increment = false)]
        pub(crate) route: String,
        /// The bucket's start: a minute, or the instant the route's results restarted within it.
        #[sea_orm(primary_key, auto_increment = false)]
        pub(crate) bucket: ChronoDateTimeUtc,
        /// The outcome label.
        #[sea_orm(primary_key, auto_increment = false)]
        pub(crate) outcome: String,
        /// How many comparisons ended so in the bucket.
        pub(crate) count: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `shadow_rule_epochs`: when each route's comparison rules came into force.
pub(crate) mod rule_epoch {
    use sea_orm::entity::prelude::*;

    /// One row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "shadow_rule_epochs")]
    pub(crate) struct Model {
        /// The route's name.
        #[sea_orm(primary_key, auto_increment = false)]
        pub(crate) route: String,
        /// The rules' fingerprint (`ShadowPolicy::fingerprint`).
        #[sea_orm(primary_key, auto_increment = false)]
        pub(crate) fingerprint: String,
        /// When a replica first put these rules in force (or last changed to them).
        pub(crate) since: ChronoDateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `shadow_resets`: when an operator last reset a route's results.
pub(crate) mod reset {
    use sea_orm::entity::prelude::*;

    /// One row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "shadow_resets")]
    pub(crate) struct Model {
        /// The route's name.
        #[sea_orm(primary_key, auto_increment = false)]
        pub(crate) route: String,
        /// When.
        pub(crate) reset_at: ChronoDateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `route_earned_shares`: the service share the fleet accepted for each route.
pub(crate) mod earned_share {
    use sea_orm::entity::prelude::*;

    /// One row.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "route_earned_shares")]
    pub(crate) struct Model {
        /// The route's name.
        #[sea_orm(primary_key, auto_increment = false)]
        pub(crate) route: String,
        /// The accepted share, in percent.
        pub(crate) service_percent: f64,
        /// The version of the route table it was accepted with.
        pub(crate) table_version: String,
        /// When.
        pub(crate) accepted_at: ChronoDateTimeUtc,
        /// What accepted it: `startup`, `file-change`, `sighup` or `admin`.
        pub(crate) trigger: String,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
