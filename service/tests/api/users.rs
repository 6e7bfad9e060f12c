//! `/v1/accounts/users`: every endpoint and error case, on both databases.

use axum::http::{Method, StatusCode, header};
use rstest::rstest;
use serde_json::{Value, json};
use test_support::Backend;

use crate::helpers::TestApp;

#[rstest]
#[tokio::test]
async fn register_returns_201_with_location_and_the_user(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };

    let response = app.register("  Ada@Example.com ", " Ada Lovelace ").await;

    assert_eq!(
        response.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    let user = response.json();
    let id = user["id"].as_str().expect("id is a string");
    uuid::Uuid::parse_str(id).expect("id is a UUID");
    assert_eq!(user["email"], "Ada@Example.com", "trimmed, case kept");
    assert_eq!(user["full_name"], "Ada Lovelace");
    assert_eq!(user["is_active"], true);
    assert_eq!(user["created_at"], user["updated_at"]);
    let created_at = user["created_at"].as_str().expect("timestamp");
    assert!(created_at.ends_with('Z'), "UTC RFC 3339: {created_at}");
    chrono::DateTime::parse_from_rfc3339(created_at).expect("RFC 3339");
    let location = response
        .headers
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok());
    assert_eq!(location, Some(format!("/v1/accounts/users/{id}").as_str()));
}

#[rstest]
#[tokio::test]
async fn get_returns_exactly_what_register_returned(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let created = app
        .register("grace@example.com", "Grace Hopper")
        .await
        .json();

    let response = app
        .get(&format!(
            "/v1/accounts/users/{}",
            created["id"].as_str().unwrap()
        ))
        .await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        response.json(),
        created,
        "a read must return the stored user unchanged, timestamps included"
    );
}

#[rstest]
#[tokio::test]
async fn get_answers_404_for_unknown_and_malformed_ids(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    for id in [
        "0195f1c4-6c2b-7d4e-9a3b-5f6e7d8c9b0a",
        "42",
        "not-a-uuid",
        "%00",
        "%27%20OR%201=1",
    ] {
        let response = app.get(&format!("/v1/accounts/users/{id}")).await;
        response.problem(StatusCode::NOT_FOUND, "not-found");
    }
}

#[rstest]
#[tokio::test]
async fn a_second_registration_in_another_case_is_409(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    assert_eq!(
        app.register("ada@example.com", "Ada").await.status,
        StatusCode::CREATED
    );

    let response = app.register("  ADA@EXAMPLE.COM", "Another Ada").await;

    response.problem(StatusCode::CONFLICT, "email-taken");
}

#[rstest]
#[tokio::test]
async fn concurrent_registrations_of_one_address_give_exactly_one_201(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some(app) = TestApp::spawn_with(backend, |s| s.database.max_connections = 10).await else {
        return;
    };
    let app = std::sync::Arc::new(app);

    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..20 {
        let app = app.clone();
        // Vary the case so that only the canonical form collides.
        let email = if n % 2 == 0 {
            "race@example.com"
        } else {
            "RACE@example.com"
        };
        tasks.spawn(async move { app.register(email, &format!("Racer {n}")).await.status });
    }
    let statuses: Vec<StatusCode> = tasks.join_all().await;

    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let conflicts = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, conflicts), (1, 19), "statuses: {statuses:?}");
    let listed = app.get("/v1/accounts/users").await.json();
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(1),
        "exactly one user stored: {listed}"
    );
}

#[rstest]
#[tokio::test]
async fn invalid_fields_are_422_listing_every_problem(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let cases: [(Value, &[(&str, &str)]); 5] = [
        (
            json!({}),
            &[("email", "required"), ("full_name", "required")],
        ),
        (
            json!({ "email": "nope", "full_name": "  " }),
            &[
                ("email", "invalid-email"),
                ("full_name", "invalid-full-name"),
            ],
        ),
        (
            json!({ "email": 42, "full_name": "" }),
            &[
                ("email", "invalid-type"),
                ("full_name", "invalid-full-name"),
            ],
        ),
        (
            json!({ "email": "a@example.com", "full_name": "A", "is_active": "yes" }),
            &[("is_active", "invalid-type")],
        ),
        (
            json!({ "email": "a@example.com", "full_name": "x".repeat(201) }),
            &[("full_name", "invalid-full-name")],
        ),
    ];
    for (body, expected) in cases {
        let response = app
            .send_json(Method::POST, "/v1/accounts/users", &body)
            .await;
        let problem = response.problem(StatusCode::UNPROCESSABLE_ENTITY, "validation-failed");
        let listed: Vec<(String, String)> = problem["errors"]
            .as_array()
            .expect("errors array")
            .iter()
            .map(|e| {
                (
                    e["field"].as_str().unwrap().to_owned(),
                    e["code"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(f, c)| ((*f).to_owned(), (*c).to_owned()))
            .collect();
        assert_eq!(listed, expected, "body {body}");
    }
    let listed = app.get("/v1/accounts/users").await.json();
    assert_eq!(listed["items"], json!([]), "nothing was stored");
}

#[rstest]
#[tokio::test]
async fn malformed_bodies_are_400_415_and_413(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some(app) = TestApp::spawn_with(backend, |s| s.http.max_body_bytes = 1024).await else {
        return;
    };
    let uri = "/v1/accounts/users";

    app.request(Method::POST, uri, Some("application/json"), "{\"email\": ")
        .await
        .problem(StatusCode::BAD_REQUEST, "malformed-json");
    app.request(Method::POST, uri, Some("application/json"), "[1, 2]")
        .await
        .problem(StatusCode::BAD_REQUEST, "malformed-request");
    app.request(Method::POST, uri, Some("text/plain"), "{}")
        .await
        .problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type");
    app.request(Method::POST, uri, None, "{}")
        .await
        .problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type");
    let big = json!({ "email": "big@example.com", "full_name": "x".repeat(2000) }).to_string();
    app.request(Method::POST, uri, Some("application/json"), big)
        .await
        .problem(StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large");
    // `application/merge-patch+json` style types are JSON too.
    let ok = app
        .request(
            Method::POST,
            uri,
            Some("application/vnd.api+json; charset=utf-8"),
            json!({"email": "v@example.com", "full_name": "V"}).to_string(),
        )
        .await;
    assert_eq!(ok.status, StatusCode::CREATED);
}

#[rstest]
#[tokio::test]
async fn unknown_paths_and_methods_are_problems(#[values(Backend::Sqlite)] backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.get("/v1/accounts/nothing-here")
        .await
        .problem(StatusCode::NOT_FOUND, "not-found");
    let response = app
        .request(Method::DELETE, "/v1/accounts/users", None, "")
        .await;
    response.problem(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed");
    assert!(
        response.headers.contains_key(header::ALLOW),
        "405 keeps its Allow header"
    );
    for method in [Method::DELETE, Method::TRACE, Method::PUT] {
        let response = app
            .request(method.clone(), "/v1/accounts/users", None, "")
            .await;
        response.problem(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed");
        // A length the body does not have makes hyper refuse to send it.
        if let Some(length) = response.headers.get(header::CONTENT_LENGTH) {
            assert_eq!(
                length.to_str().ok(),
                Some(response.body.len().to_string().as_str()),
                "{method}: the content-length is the problem body's"
            );
        }
    }
}

#[rstest]
#[tokio::test]
async fn list_pages_through_every_user_once(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let mut created = Vec::new();
    for n in 0..5 {
        created.push(
            app.register(&format!("user{n}@example.com"), "User")
                .await
                .json()["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    created.sort();

    let mut seen = Vec::new();
    let mut uri = "/v1/accounts/users?limit=2".to_owned();
    loop {
        let page = app.get(&uri).await;
        assert_eq!(page.status, StatusCode::OK);
        let page = page.json();
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => uri = format!("/v1/accounts/users?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, created, "every user once, in id order");

    let problem = app
        .get("/v1/accounts/users?limit=0&cursor=zzz")
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "validation-failed");
    assert_eq!(
        problem["errors"].as_array().map(Vec::len),
        Some(2),
        "{problem}"
    );
    app.get("/v1/accounts/users?limit=many")
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "validation-failed");
}

#[rstest]
#[tokio::test]
async fn patch_changes_only_given_fields_and_deactivate_is_idempotent(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let created = app.register("lin@example.com", "Lin").await.json();
    let uri = format!("/v1/accounts/users/{}", created["id"].as_str().unwrap());

    let renamed = app
        .send_json(Method::PATCH, &uri, &json!({ "full_name": " Lin Clark " }))
        .await;
    assert_eq!(renamed.status, StatusCode::OK);
    let renamed = renamed.json();
    assert_eq!(renamed["full_name"], "Lin Clark");
    assert_eq!(renamed["email"], created["email"]);
    assert_eq!(renamed["is_active"], true);
    assert_eq!(renamed["created_at"], created["created_at"]);

    let deactivated = app
        .request(Method::POST, &format!("{uri}/deactivate"), None, "")
        .await;
    assert_eq!(deactivated.status, StatusCode::OK);
    assert_eq!(deactivated.json()["is_active"], false);
    let again = app
        .request(Method::POST, &format!("{uri}/deactivate"), None, "")
        .await;
    assert_eq!(
        again.json(),
        deactivated.json(),
        "deactivating twice changes nothing, not even updated_at"
    );
    assert_eq!(
        app.get(&uri).await.json(),
        deactivated.json(),
        "the change is stored"
    );

    let problem = app
        .send_json(
            Method::PATCH,
            &uri,
            &json!({ "full_name": "", "is_active": 1, "email": "x@example.com" }),
        )
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "validation-failed");
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["is_active", "email"],
        "type and unknown-field problems first: {problem}"
    );

    let missing = "/v1/accounts/users/0195f1c4-6c2b-7d4e-9a3b-5f6e7d8c9b0a";
    app.send_json(Method::PATCH, missing, &json!({ "is_active": false }))
        .await
        .problem(StatusCode::NOT_FOUND, "not-found");
    app.request(Method::POST, &format!("{missing}/deactivate"), None, "")
        .await
        .problem(StatusCode::NOT_FOUND, "not-found");
}

#[rstest]
#[tokio::test]
async fn a_database_that_is_gone_gives_503_not_a_panic(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.accounts
        .clone()
        .close()
        .await
        .expect("closing the pool");

    app.get("/v1/accounts/users/0195f1c4-6c2b-7d4e-9a3b-5f6e7d8c9b0a")
        .await
        .problem(StatusCode::SERVICE_UNAVAILABLE, "service-unavailable");
    app.register("late@example.com", "Late")
        .await
        .problem(StatusCode::SERVICE_UNAVAILABLE, "service-unavailable");
}

#[rstest]
#[tokio::test]
async fn ids_are_read_back_only_in_the_hyphenated_form_the_service_hands_out(
    #[values(Backend::Sqlite)] backend: Backend,
) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let created = app.register("id@example.com", "Id").await.json();
    let id = created["id"].as_str().expect("an id").to_owned();

    let upper = app
        .get(&format!("/v1/accounts/users/{}", id.to_uppercase()))
        .await;
    assert_eq!(upper.status, StatusCode::OK, "hex digits in either case");
    assert_eq!(upper.json(), created);
    for other_form in [format!("%7B{id}%7D"), id.replace('-', "")] {
        app.get(&format!("/v1/accounts/users/{other_form}"))
            .await
            .problem(StatusCode::NOT_FOUND, "not-found");
        let problem = app
            .get(&format!("/v1/accounts/users?cursor={other_form}"))
            .await
            .problem(StatusCode::UNPROCESSABLE_ENTITY, "validation-failed");
        assert_eq!(problem["errors"][0]["code"], "invalid-cursor", "{problem}");
    }
}
