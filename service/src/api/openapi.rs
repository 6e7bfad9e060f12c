//! The OpenAPI document of the API, served at `/v1/openapi.json`.
//!
//! Generated from the handlers' `#[utoipa::path]` annotations, the wire
//! models and [`problems`]; it MUST state what the service does (every
//! status, bound and format). The contract tests hold it to the router and
//! to the domain's rules, and schemathesis (`tests/api/schemathesis.sh`)
//! holds it to the running service.

pub(crate) mod problems;

use axum::Json;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::{OpenApi as Document, RefOr, Response};
use utoipa::{Modify, OpenApi};

use problems::{
    BadBody, BadPath, BadPathOrBody, EmailTaken, FieldProblemSchema, InvalidListing,
    InvalidRegistration, InvalidUpdate, PayloadTooLarge, Unavailable, UnsupportedMediaType,
    UserNotFound, ValidationProblem,
};

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "project-alpha accounts API",
        description = "The accounts capability of the new backend: register, read, list, \
                       change and deactivate users.\n\n\
                       Every error is an RFC 9457 `application/problem+json` body. Requests \
                       reach the service through the gateway, which refuses some paths \
                       itself (400 `bad-path`).\n\n\
                       Try the API in the browser at [`/docs`](/docs)."
    ),
    paths(
        super::users::register_user,
        super::users::get_user,
        super::users::list_users,
        super::users::update_user,
        super::users::deactivate_user,
    ),
    components(
        schemas(
            crate::api::problem::Problem,
            ValidationProblem,
            FieldProblemSchema,
            crate::api::formats::EmailFormat,
            crate::api::formats::FullNameFormat,
            crate::api::formats::UserIdFormat,
        ),
        responses(
            BadBody,
            BadPath,
            BadPathOrBody,
            EmailTaken,
            InvalidListing,
            InvalidRegistration,
            InvalidUpdate,
            PayloadTooLarge,
            Unavailable,
            UnsupportedMediaType,
            UserNotFound,
        )
    ),
    modifiers(&UserLinks),
    tags((name = "accounts", description = "Users and their accounts"))
)]
pub(crate) struct ApiDoc;

/// The operations on one user, which every response that returns a user links to.
const USER_OPERATIONS: [(&str, &str, &str); 3] = [
    ("GetUser", "get_user", "Read this user."),
    ("UpdateUser", "update_user", "Change this user."),
    ("DeactivateUser", "deactivate_user", "Deactivate this user."),
];

/// Adds OpenAPI links from every response that returns a user (`201` of a
/// registration, `200` of a read, a change, a deactivation) to the operations
/// on that user, with `id` taken from the response body. Clients and
/// schemathesis's stateful tests follow them: create → read → change → deactivate.
struct UserLinks;

impl Modify for UserLinks {
    fn modify(&self, openapi: &mut Document) {
        let operations = openapi.paths.paths.values_mut().flat_map(|item| {
            [item.get.as_mut(), item.post.as_mut(), item.patch.as_mut()]
                .into_iter()
                .flatten()
        });
        for operation in operations {
            for (status, response) in &mut operation.responses.responses {
                let RefOr::T(response) = response else {
                    continue;
                };
                if !matches!(status.as_str(), "200" | "201") || !returns_user(response) {
                    continue;
                }
                for (name, operation_id, description) in USER_OPERATIONS {
                    let link = LinkBuilder::new()
                        .operation_id(operation_id)
                        .parameter("id", "$response.body#/id")
                        .description(description)
                        .build();
                    response.links.insert(name.to_owned(), RefOr::T(link));
                }
            }
        }
    }
}

/// Whether `response`'s body is a `UserResponse`.
fn returns_user(response: &Response) -> bool {
    response.content.values().any(|content| {
        matches!(content, RefOr::T(content)
            if matches!(&content.schema, Some(RefOr::Ref(schema)) if schema.ref_location.ends_with("/UserResponse")))
    })
}

/// `GET /v1/openapi.json`.
pub(crate) async fn document() -> Json<Document> {
    Json(ApiDoc::openapi())
}

#[cfg(test)]
mod tests;
