//! The document's own promises: bounds from the use cases, examples the code produces, error
//! responses with matching statuses, links to real operations.

use std::collections::BTreeSet;

use chrono::{TimeZone, Utc};
use serde_json::{Map, Value};
use utoipa::OpenApi;

use super::ApiDoc;
use crate::api::models::UserResponse;
use crate::api::problem::PROBLEM_TYPE_PREFIX;
use crate::api::users::{register_command, update_command};
use crate::application::{ListUsers, UserDto};
use crate::domain::UserId;

fn document() -> Value {
    serde_json::to_value(ApiDoc::openapi()).expect("the document is JSON")
}

/// `(path, method, operation)` of every operation.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            found.push((path.clone(), method.clone(), operation.clone()));
        }
    }
    found
}

/// Follows a `$ref` to `#/components/...`.
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str() {
        Some(reference) => {
            let pointer = reference.trim_start_matches('#');
            doc.pointer(pointer)
                .unwrap_or_else(|| panic!("dangling $ref {reference}"))
        }
        None => value,
    }
}

#[test]
fn the_limit_parameter_states_the_use_cases_bounds_and_default() {
    let doc = document();
    let parameters = doc["paths"]["/v1/accounts/users"]["get"]["parameters"]
        .as_array()
        .expect("parameters");
    let limit = parameters
        .iter()
        .find(|p| p["name"] == "limit")
        .expect("a limit parameter");
    assert_eq!(limit["schema"]["minimum"], 1, "{limit}");
    assert_eq!(limit["schema"]["maximum"], ListUsers::MAX_LIMIT, "{limit}");
    assert_eq!(
        limit["schema"]["default"],
        ListUsers::DEFAULT_LIMIT,
        "{limit}"
    );
}

#[test]
fn every_error_response_is_problem_json_with_examples_of_its_status() {
    let doc = document();
    let mut checked = 0;
    for (path, method, operation) in operations(&doc) {
        for (status, response) in operation["responses"].as_object().expect("responses") {
            if status.starts_with('2') {
                continue;
            }
            let response = resolve(&doc, response);
            let content = response["content"]
                .as_object()
                .expect("an error response has content");
            let keys: Vec<&String> = content.keys().collect();
            assert_eq!(
                keys,
                ["application/problem+json"],
                "{method} {path} {status}"
            );
            let media = &content["application/problem+json"];
            let schema = media["schema"]["$ref"].as_str().unwrap_or_default();
            let expected_schema = if status == "422" {
                "#/components/schemas/ValidationProblem"
            } else {
                "#/components/schemas/Problem"
            };
            assert_eq!(schema, expected_schema, "{method} {path} {status}");
            let examples = media["examples"].as_object().expect("examples");
            assert!(!examples.is_empty(), "{method} {path} {status}");
            for (name, example) in examples {
                let value = &example["value"];
                assert_eq!(
                    value["status"].to_string(),
                    *status,
                    "{method} {path} {status} example {name}: {value}"
                );
                let code = value["code"].as_str().expect("a code");
                assert_eq!(value["type"], format!("{PROBLEM_TYPE_PREFIX}{code}"));
                if status == "422" {
                    assert!(
                        value["errors"].as_array().is_some_and(|e| !e.is_empty()),
                        "{method} {path}: a 422 example lists its field problems: {value}"
                    );
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} error responses found");
}

#[test]
fn every_operation_documents_the_outage_answer() {
    let doc = document();
    for (path, method, operation) in operations(&doc) {
        assert!(
            operation["responses"]["503"].is_object(),
            "{method} {path} reads or writes users, so it can answer 503"
        );
    }
}

#[test]
fn links_name_operations_of_the_document() {
    let doc = document();
    let ids: BTreeSet<String> = operations(&doc)
        .iter()
        .filter_map(|(_, _, operation)| operation["operationId"].as_str().map(str::to_owned))
        .collect();
    let mut links = 0;
    for (path, method, operation) in operations(&doc) {
        for response in operation["responses"]
            .as_object()
            .expect("responses")
            .values()
        {
            let Some(found) = resolve(&doc, response)["links"].as_object() else {
                continue;
            };
            for (name, link) in found {
                let target = link["operationId"].as_str().unwrap_or_default();
                assert!(
                    ids.contains(target),
                    "{method} {path}: link {name} to {target}"
                );
                assert_eq!(link["parameters"]["id"], "$response.body#/id");
                links += 1;
            }
        }
    }
    assert_eq!(
        links,
        4 * 3,
        "registration, read, change and deactivation each link 3 ways"
    );
}

#[test]
fn the_request_examples_are_accepted() {
    let doc = document();
    let schemas = &doc["components"]["schemas"];
    let body = |name: &str| -> Map<String, Value> {
        schemas[name]["example"]
            .as_object()
            .unwrap_or_else(|| panic!("{name} has an example"))
            .clone()
    };

    let registration = register_command(body("RegisterUserRequest")).expect("a valid body");
    assert!(registration.problems().is_empty(), "{registration:?}");
    let update = update_command(body("UpdateUserRequest")).expect("a valid body");
    assert!(update.full_name.is_some(), "{update:?}");
}

#[test]
fn the_user_examples_have_the_members_the_service_sends() {
    let doc = document();
    let schemas = &doc["components"]["schemas"];
    let at = Utc
        .with_ymd_and_hms(2026, 1, 5, 9, 30, 0)
        .single()
        .expect("a time");
    let id = UserId::parse("0195f1c4-6c2b-7d4e-9a3b-5f6e7d8c9b0a").expect("an id");
    let sent = serde_json::to_value(UserResponse::from(UserDto {
        id,
        email: "ada@example.com".to_owned(),
        full_name: "Ada Lovelace".to_owned(),
        is_active: true,
        created_at: at,
        updated_at: at,
    }))
    .expect("JSON");
    let members = |value: &Value| -> BTreeSet<String> {
        value
            .as_object()
            .expect("an object")
            .keys()
            .cloned()
            .collect()
    };

    assert_eq!(members(&schemas["UserResponse"]["example"]), members(&sent));
    let required: BTreeSet<String> = schemas["UserResponse"]["required"]
        .as_array()
        .expect("required")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    assert_eq!(required, members(&sent), "every member is always sent");
    for item in schemas["UserPageResponse"]["example"]["items"]
        .as_array()
        .expect("items")
    {
        assert_eq!(members(item), members(&sent));
    }
}
