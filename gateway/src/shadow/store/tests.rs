//! The shadow tables on a real SQLite file and a real PostgreSQL database.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rstest::rstest;
use test_support::{Backend, TestDatabase};

use super::*;
use crate::shadow::exchange::{RecordedExchange, RecordedRequest};
use crate::shadow::recorder::{Recorder, Retention};

async fn store(backend: Backend) -> Option<(ShadowStore, TestDatabase)> {
    let database = TestDatabase::create(backend).await?;
    let db = accounts::connect_database(&accounts::DatabaseSettings {
        url: database.url().to_owned(),
        ..accounts::DatabaseSettings::default()
    })
    .await
    .expect("connecting");
    Some((ShadowStore::new(db), database))
}

/// A recorder on `store` with a small queue and an hour's retention.
fn recorder(store: &ShadowStore) -> (Recorder, tokio::task::JoinHandle<()>) {
    Recorder::spawn(
        store.clone(),
        16,
        Retention {
            max_records: 100,
            max_age: Duration::from_secs(3600),
            counts_max_age: Duration::from_secs(3600),
        },
    )
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().expect("test data")
}

fn bucket(route: &str, at_text: &str, pairs: &[(&str, u64)]) -> BucketCounts {
    BucketCounts::from([(
        BucketKey {
            route: route.to_owned(),
            bucket: at(at_text),
        },
        pairs.iter().map(|(o, n)| ((*o).to_owned(), *n)).collect(),
    )])
}

#[rstest]
#[tokio::test]
async fn counts_add_up_across_writers_and_are_read_from_a_bucket_on(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some((store, _db)) = store(backend).await else {
        return;
    };
    // Two replicas write the same minute, and one writes an earlier one.
    store
        .add_counts(&bucket(
            "r",
            "2026-12-01T10:00:00Z",
            &[("match", 3), ("mismatch", 1)],
        ))
        .await
        .unwrap();
    store
        .add_counts(&bucket("r", "2026-12-01T10:00:00Z", &[("match", 2)]))
        .await
        .unwrap();
    store
        .add_counts(&bucket("r", "2026-12-01T09:59:00Z", &[("mismatch", 7)]))
        .await
        .unwrap();
    // A bucket that starts at a reset within the minute, to the microsecond.
    store
        .add_counts(&bucket("r", "2026-12-01T10:01:30.123456Z", &[("match", 4)]))
        .await
        .unwrap();
    store
        .add_counts(&bucket("other", "2026-12-01T10:00:00Z", &[("match", 100)]))
        .await
        .unwrap();

    let all = store.counts_since("r", None).await.unwrap();
    assert_eq!(
        all,
        OutcomeCounts::from([("match".to_owned(), 9), ("mismatch".to_owned(), 8)])
    );
    let since_ten = store
        .counts_since("r", Some(at("2026-12-01T10:00:00Z")))
        .await
        .unwrap();
    assert_eq!(
        since_ten,
        OutcomeCounts::from([("match".to_owned(), 9), ("mismatch".to_owned(), 1)])
    );
    let since_reset = store
        .counts_since("r", Some(at("2026-12-01T10:01:30.123456Z")))
        .await
        .unwrap();
    assert_eq!(since_reset, OutcomeCounts::from([("match".to_owned(), 4)]));
    let later = store
        .counts_since("r", Some(at("2026-12-01T10:01:30.123457Z")))
        .await
        .unwrap();
    assert!(later.is_empty(), "{later:?}");

    assert_eq!(
        store
            .forget_counts_before(at("2026-12-01T10:00:00Z"))
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.counts_since("r", None).await.unwrap()["mismatch"], 1);
}

#[rstest]
#[tokio::test]
async fn every_outcome_is_stored_and_format_only_counts_as_agreement_on(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some((store, _db)) = store(backend).await else {
        return;
    };
    let pairs: Vec<(&str, u64)> = shadow_diff::Outcome::ALL
        .iter()
        .zip(1..)
        .map(|(outcome, n)| (outcome.label(), n))
        .collect();
    store
        .add_counts(&bucket("r", "2026-12-01T10:00:00Z", &pairs))
        .await
        .unwrap();
    let stored = store.counts_since("r", None).await.unwrap();
    let expected: OutcomeCounts = pairs.iter().map(|(o, n)| ((*o).to_owned(), *n)).collect();
    assert_eq!(stored, expected);
    assert_eq!(stored["format_only"], 4);

    // 996 format-only and 4 mismatches of 1000: ready at 0.996, not above.
    store
        .add_counts(&bucket(
            "f",
            "2026-12-01T10:00:00Z",
            &[("format_only", 996), ("mismatch", 4)],
        ))
        .await
        .unwrap();
    let counts = store.counts_since("f", None).await.unwrap();
    let require = |match_rate| gateway_routing::FlipRequirement {
        match_rate,
        min_samples: 1000,
        window: None,
    };
    let ready = gateway_routing::flip::readiness(require(0.996), &counts);
    assert!(ready.ready, "{}", ready.reason);
    assert_eq!((ready.compared, ready.matched), (1000, 996));
    assert!(!gateway_routing::flip::readiness(require(0.997), &counts).ready);
}

#[rstest]
#[tokio::test]
async fn the_first_replica_to_see_rules_sets_their_epoch_and_a_revert_restarts_it(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some((store, _db)) = store(backend).await else {
        return;
    };
    let t1 = at("2026-12-01T09:00:00Z");
    let t2 = at("2026-12-01T10:00:00Z");
    let t3 = at("2026-12-01T11:00:00Z");
    let t4 = at("2026-12-01T12:00:00Z");
    assert_eq!(store.rule_epoch("r", "old", t1, false).await.unwrap(), t1);
    // Another replica starting later with the same rules agrees on t1.
    assert_eq!(store.rule_epoch("r", "old", t2, false).await.unwrap(), t1);
    // An edit to new rules, picked up by one replica, then another.
    assert_eq!(store.rule_epoch("r", "new", t2, true).await.unwrap(), t2);
    assert_eq!(store.rule_epoch("r", "new", t3, true).await.unwrap(), t2);
    // Reverting to the old rules on reload starts them again; a start-up does not.
    assert_eq!(store.rule_epoch("r", "old", t3, false).await.unwrap(), t1);
    assert_eq!(store.rule_epoch("r", "old", t4, true).await.unwrap(), t4);
    assert_eq!(
        store.rule_epoch("other", "old", t4, false).await.unwrap(),
        t4
    );
}

#[rstest]
#[tokio::test]
async fn resets_and_accepted_shares_are_kept_per_route(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some((store, _db)) = store(backend).await else {
        return;
    };
    assert!(store.resets().await.unwrap().is_empty());
    store.reset("r", at("2026-12-01T10:00:00Z")).await.unwrap();
    store
        .reset("r", at("2026-12-01T11:00:00.5Z"))
        .await
        .unwrap();
    assert_eq!(
        store.resets().await.unwrap(),
        BTreeMap::from([("r".to_owned(), at("2026-12-01T11:00:00.5Z"))])
    );

    let share = |percent: f64, trigger: &str| EarnedShare {
        service_percent: percent,
        table_version: "0123456789abcdef".to_owned(),
        accepted_at: at("2026-12-01T10:00:00Z"),
        trigger: trigger.to_owned(),
    };
    store
        .record_share("r", &share(5.0, "startup"))
        .await
        .unwrap();
    store
        .record_share("r", &share(100.0, "admin"))
        .await
        .unwrap();
    store
        .record_share("s", &share(0.0, "startup"))
        .await
        .unwrap();
    let shares = store.earned_shares().await.unwrap();
    assert_eq!(shares.len(), 2);
    assert_eq!(shares["r"], share(100.0, "admin"));
    assert_eq!(shares["s"].service_percent, 0.0);
}

#[rstest]
#[tokio::test]
async fn a_recorder_counts_in_minute_buckets_and_restarts_a_bucket_at_a_reset(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some((store, _db)) = store(backend).await else {
        return;
    };
    let (recorder, task) = recorder(&store);
    recorder.count("r", "mismatch");
    let reset = crate::shadow::recorder::now();
    recorder.restart("r", reset);
    recorder.count("r", "match");
    recorder.count("r", "match");
    // Before the flush: the pending counts, split at the reset.
    assert_eq!(
        recorder.pending_since("r", Some(reset)),
        OutcomeCounts::from([("match".to_owned(), 2)])
    );
    assert_eq!(recorder.pending_since("r", None).len(), 2);
    recorder.flush_counts().await;
    assert!(recorder.pending_since("r", None).is_empty());
    assert_eq!(
        store.counts_since("r", Some(reset)).await.unwrap(),
        OutcomeCounts::from([("match".to_owned(), 2)])
    );
    assert_eq!(
        store.counts_since("r", None).await.unwrap(),
        OutcomeCounts::from([("match".to_owned(), 2), ("mismatch".to_owned(), 1)])
    );
    task.abort();
}

fn record(route: &str, request: Option<RecordedRequest>) -> MismatchRecord {
    use crate::shadow::exchange::{RecordedAnswer, RecordedBody, RecordedHeader};
    let answer = |name: &str| RecordedAnswer {
        headers: vec![RecordedHeader {
            name: "content-type".into(),
            value: "application/json".into(),
        }],
        body: RecordedBody::Json {
            text: format!(r#"{{"full_name":"{name}"}}"#),
            truncated: false,
        },
    };
    MismatchRecord {
        exchange: request.as_ref().map(|_| RecordedExchange {
            primary: answer("Ada King"),
            shadow: answer("Ada Lovelace"),
        }),
        request_body: request.as_ref().map(|_| RecordedBody::Json {
            text: r#"{"query":"[redacted]"}"#.into(),
            truncated: false,
        }),
        request,
        ..MismatchRecord::for_test(
            route,
            serde_json::json!({"differences": [{"path": "/full_name"}]}),
        )
    }
}

#[rstest]
#[tokio::test]
async fn a_record_keeps_its_request_its_body_and_answers_and_lists_leave_them_out(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    use crate::shadow::exchange::RecordedHeader;
    let Some((store, _db)) = store(backend).await else {
        return;
    };
    let request = RecordedRequest {
        method: "GET".into(),
        path_and_query: "/v1/accounts/users/7?token=[redacted]".into(),
        headers: vec![RecordedHeader {
            name: "authorization".into(),
            value: "[redacted]".into(),
        }],
        truncated: false,
    };
    let full = record("r", Some(request));
    // A record as an earlier release wrote it: no request, no answers.
    let bare = record("r", None);
    store.insert(&[full.clone(), bare.clone()]).await.unwrap();

    assert_eq!(store.get(full.id).await.unwrap(), Some(full.clone()));
    assert_eq!(store.get(bare.id).await.unwrap(), Some(bare.clone()));
    let listed = store.list(Some("r"), None, 10).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(
        listed
            .iter()
            .all(|r| r.request.is_none() && r.exchange.is_none() && r.request_body.is_none())
    );
    assert_eq!(listed[1].differences, full.differences);
}

#[rstest]
#[tokio::test]
async fn an_original_is_stored_only_sealed_and_read_back_only_with_its_key_on(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    use crate::shadow::seal::{Original, SealKey, Sealed};
    let Some((store, _db)) = store(backend).await else {
        return;
    };
    let key = |n: u8| {
        Some(Arc::new(
            SealKey::parse(&format!("{}{n}", "a".repeat(63))).unwrap(),
        ))
    };
    let original = Original {
        path_and_query: "/v1/accounts/users/7?token=t0k3n".into(),
        body: bytes::Bytes::from_static(br#"{"query":"s3cret"}"#),
    };
    let with_original = |route: &str| MismatchRecord {
        original: Sealed::Original(original.clone()),
        ..record(route, None)
    };
    let sealing = store.clone().with_seal_key(key(1));
    let (sealed, unsealed) = (with_original("sealed"), with_original("unsealed"));
    sealing.insert(std::slice::from_ref(&sealed)).await.unwrap();
    store.insert(std::slice::from_ref(&unsealed)).await.unwrap();

    // Nothing readable is stored: the column holds the sealed text only.
    let stored: Vec<Option<String>> = mismatch::Entity::find()
        .select_only()
        .column(mismatch::Column::RequestSealed)
        .order_by_asc(mismatch::Column::Id)
        .into_tuple()
        .all(&store.db)
        .await
        .unwrap();
    assert_eq!(stored.len(), 2);
    let text = stored[0].as_deref().expect("sealed with the key");
    assert!(
        !text.contains("s3cret") && !text.contains("t0k3n"),
        "{text}"
    );
    assert_eq!(stored[1], None, "without a key the original is not kept");

    let read = sealing.get(sealed.id).await.unwrap().unwrap();
    assert_eq!(read.original, Sealed::Original(original));
    assert_eq!(read.request_body, sealed.request_body);
    assert_eq!(
        sealing.get(unsealed.id).await.unwrap().unwrap().original,
        Sealed::None
    );
    let other = store.clone().with_seal_key(key(2));
    let Sealed::Unreadable(why) = other.get(sealed.id).await.unwrap().unwrap().original else {
        panic!("another key unsealed it");
    };
    assert!(why.contains("another key"), "{why}");
    let Sealed::Unreadable(why) = store.get(sealed.id).await.unwrap().unwrap().original else {
        panic!("read without a key");
    };
    assert!(why.contains("no shadow_records.seal_key"), "{why}");
}

#[rstest]
#[tokio::test]
async fn the_minute_series_sums_every_writer_per_minute_with_what_is_pending(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    use chrono::DurationRound;

    use crate::shadow::results::minute_series;
    let Some((store, _db)) = store(backend).await else {
        return;
    };
    let minute = chrono::Duration::minutes(1);
    let this_minute = crate::shadow::recorder::now()
        .duration_trunc(minute)
        .unwrap();
    let key = |at: DateTime<Utc>| BucketKey {
        route: "r".to_owned(),
        bucket: at,
    };
    let counts = |pairs: &[(&str, u64)]| -> OutcomeCounts {
        pairs.iter().map(|(o, n)| ((*o).to_owned(), *n)).collect()
    };
    // Two replicas wrote two minutes ago; a reset split last minute in two buckets.
    for replica in [&[("match", 3), ("mismatch", 1)][..], &[("mismatch", 1)]] {
        store
            .add_counts(&BucketCounts::from([(
                key(this_minute - minute * 2),
                counts(replica),
            )]))
            .await
            .unwrap();
    }
    store
        .add_counts(&BucketCounts::from([
            (key(this_minute - minute), counts(&[("match", 1)])),
            (
                key(this_minute - minute + chrono::Duration::seconds(30)),
                counts(&[("match", 1), ("skipped_sampled_out", 9)]),
            ),
            (key(this_minute - minute * 10), counts(&[("match", 50)])),
        ]))
        .await
        .unwrap();
    let (recorder, task) = recorder(&store);
    // Its writer never runs (stopped before the test first yields), so
    // this replica's own count of this minute stays pending.
    task.abort();
    recorder.count("r", "mismatch");

    let series = minute_series(
        &recorder,
        "r",
        &gateway_routing::FlipRequirement::default(),
        3,
    )
    .await
    .unwrap();
    let figures: Vec<(DateTime<Utc>, u64, u64, Option<f64>)> = series
        .iter()
        .map(|p| (p.minute, p.compared, p.mismatched, p.mismatch_rate))
        .collect();
    assert_eq!(
        figures,
        [
            (this_minute - minute * 2, 5, 2, Some(0.4)),
            (this_minute - minute, 2, 0, Some(0.0)),
            (this_minute, 1, 1, Some(1.0)),
        ]
    );
    assert_eq!(series[1].counts["skipped_sampled_out"], 9);
}

#[rstest]
#[tokio::test]
async fn a_count_is_read_once_while_a_flush_moves_it_to_the_database(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    use crate::shadow::results::{minute_series, route_results};
    let Some((store, _db)) = store(backend).await else {
        return;
    };
    let (recorder, task) = recorder(&store);
    task.abort();
    let require = gateway_routing::FlipRequirement::default();
    for n in 1..=10_u64 {
        recorder.count("r", "match");
        // The reads start while the flush is writing.
        let ((), results, series) = tokio::join!(
            recorder.flush_counts(),
            route_results(&recorder, "r", &require, None),
            minute_series(&recorder, "r", &require, 2),
        );
        assert_eq!(results.unwrap().counts["match"], n);
        let compared: u64 = series.unwrap().iter().map(|p| p.compared).sum();
        assert_eq!(compared, n);
    }
}
