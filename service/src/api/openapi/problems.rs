//! The error side of the document: the problem+json schemas and the error
//! responses the operations share.
//!
//! Every example is made by the code the service answers with (the
//! handlers' body parsing, the use cases' checks, [`Problem::from`] an
//! [`AppError`], the body extractor's rejections), so the examples are the
//! bodies clients get. The one exception is
//! [`BadPath`]: the gateway makes that answer before the service sees the
//! request, and it is written out here.

use std::borrow::Cow;

use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use utoipa::openapi::example::ExampleBuilder;
use utoipa::openapi::schema::{
    AllOfBuilder, ArrayBuilder, ObjectBuilder, Schema, SchemaFormat, Type,
};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{PartialSchema, ToResponse, ToSchema};

use crate::api::extract::rejection;
use crate::api::problem::{PROBLEM_JSON, PROBLEM_TYPE_PREFIX, Problem};
use crate::api::users;
use crate::application::{ListUsersQuery, RegisterUserError};
use crate::shared::{AppError, FieldProblem};

/// A string member described by `description`.
fn text(description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
}

impl PartialSchema for Problem {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "An RFC 9457 problem details object: the body of every error, from the \
                 service and from the gateway (which marks its own with `x-gateway-error`). \
                 Members other than these may be added.",
            ))
            .property(
                "type",
                text(&format!(
                    "Identifies the kind of problem: `{PROBLEM_TYPE_PREFIX}<code>`."
                ))
                .format(Some(SchemaFormat::Custom("uri".to_owned()))),
            )
            .property(
                "title",
                text("A short summary, the same for every problem of this `type`."),
            )
            .property(
                "status",
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(400))
                    .maximum(Some(599))
                    .description(Some("The HTTP status of the response.")),
            )
            .property(
                "detail",
                text("What went wrong this time, for people; never internal error text."),
            )
            .property(
                "code",
                text("The stable code at the end of `type`, for programs, e.g. `email-taken`."),
            )
            .property(
                "errors",
                ArrayBuilder::new()
                    .items(Ref::from_schema_name(FieldProblemSchema::name()))
                    .description(Some(
                        "Every field problem of the request; on `validation-failed` (422) only.",
                    )),
            )
            .required("type")
            .required("title")
            .required("status")
            .required("code")
            .into()
    }
}

impl ToSchema for Problem {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((
            FieldProblemSchema::name().into_owned(),
            FieldProblemSchema::schema(),
        ));
    }
}

/// Schema of a 422 problem: a [`Problem`] whose `errors` lists every field problem.
pub(crate) struct ValidationProblem;

impl PartialSchema for ValidationProblem {
    fn schema() -> RefOr<Schema> {
        AllOfBuilder::new()
            .item(Ref::from_schema_name(Problem::name()))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .required("errors"),
            )
            .description(Some(
                "A `validation-failed` problem: `errors` lists every problem of the request, \
                 one per field.",
            ))
            .into()
    }
}

impl ToSchema for ValidationProblem {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ValidationProblem")
    }
}

/// Schema of one entry of a problem's `errors`.
pub(crate) struct FieldProblemSchema;

impl PartialSchema for FieldProblemSchema {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some("One problem with one field of the request."))
            .property(
                "field",
                text("The member or parameter, as named on the wire, e.g. `email`, `limit`."),
            )
            .property(
                "code",
                text(
                    "What is wrong, for programs: `required`, `invalid-type`, `invalid-email`, \
                     `invalid-full-name`, `unknown-field`, `out-of-range` or `invalid-cursor`.",
                ),
            )
            .property("detail", text("What is wrong, for people."))
            .required("field")
            .required("code")
            .required("detail")
            .into()
    }
}

impl ToSchema for FieldProblemSchema {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("FieldProblem")
    }
}

/// A problem+json response of `schema`, with one example per problem, named by its code.
fn response_of(
    description: &str,
    schema: Cow<'static, str>,
    problems: Vec<Problem>,
) -> RefOr<Response> {
    let examples = problems.into_iter().map(|problem| {
        let value = serde_json::to_value(&problem).unwrap_or(Value::Null);
        let example = ExampleBuilder::new()
            .summary(problem.detail.unwrap_or_default())
            .value(Some(value))
            .build();
        (problem.code, example)
    });
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(schema)))
                .examples_from_iter(examples)
                .build(),
        )
        .into()
}

/// A response of [`Problem`]s.
fn problem_response(description: &str, problems: Vec<Problem>) -> RefOr<Response> {
    response_of(description, Problem::name(), problems)
}

/// A 422 response whose example lists `problems`.
fn validation_response(description: &str, problems: Vec<FieldProblem>) -> RefOr<Response> {
    let problem = Problem::from(&AppError::Validation(problems));
    response_of(description, ValidationProblem::name(), vec![problem])
}

/// A JSON object of `members`, as a request body.
fn body<const N: usize>(members: [(&str, Value); N]) -> Map<String, Value> {
    members
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
}

/// The 400 the gateway answers for a path it will not route.
fn bad_path() -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, "bad-path", "Bad request path").with_detail(
        "the request path is not acceptable: encoded '/' or '\\' at byte 20 of the request path \
         is not allowed",
    )
}

/// The problems of a JSON body that cannot be read as an object.
fn bad_bodies() -> Vec<Problem> {
    let mut problems = Vec::new();
    if let Err(err) = serde_json::from_str::<Value>("{\"email\": ") {
        problems.push(rejection::malformed_json(&err));
    }
    problems.push(rejection::not_an_object());
    problems
}

const BAD_PATH: &str = "The path is refused by the gateway: it holds an encoded `/` or `\\` \
                        (`%2F`, `%5C`), a raw `\\`, a NUL, a malformed percent-escape, or is not \
                        UTF-8 once decoded (`x-gateway-error: bad-path`).";
const BAD_BODY: &str = "The body is not JSON, or not a JSON object.";

/// 400 of operations with a user id in the path and no body.
pub(crate) struct BadPath;

impl<'r> ToResponse<'r> for BadPath {
    fn response() -> (&'r str, RefOr<Response>) {
        ("BadPath", problem_response(BAD_PATH, vec![bad_path()]))
    }
}

/// 400 of operations with a JSON body and no path parameter.
pub(crate) struct BadBody;

impl<'r> ToResponse<'r> for BadBody {
    fn response() -> (&'r str, RefOr<Response>) {
        ("BadBody", problem_response(BAD_BODY, bad_bodies()))
    }
}

/// 400 of operations with a user id in the path and a JSON body.
pub(crate) struct BadPathOrBody;

impl<'r> ToResponse<'r> for BadPathOrBody {
    fn response() -> (&'r str, RefOr<Response>) {
        let mut problems = bad_bodies();
        problems.push(bad_path());
        let description = format!("{BAD_BODY} Or: {BAD_PATH}");
        ("BadPathOrBody", problem_response(&description, problems))
    }
}

/// 404 of operations on one user.
pub(crate) struct UserNotFound;

impl<'r> ToResponse<'r> for UserNotFound {
    fn response() -> (&'r str, RefOr<Response>) {
        let description = "No user has this id (text that is not a hyphenated UUID names no user).";
        let problem = Problem::from(&AppError::NotFound { resource: "user" });
        ("UserNotFound", problem_response(description, vec![problem]))
    }
}

/// 409 of a registration.
pub(crate) struct EmailTaken;

impl<'r> ToResponse<'r> for EmailTaken {
    fn response() -> (&'r str, RefOr<Response>) {
        let description =
            "A user with this email address exists already (compared regardless of case).";
        let problem = Problem::from(&AppError::from(RegisterUserError::EmailTaken));
        ("EmailTaken", problem_response(description, vec![problem]))
    }
}

/// 413 of operations with a JSON body.
pub(crate) struct PayloadTooLarge;

impl<'r> ToResponse<'r> for PayloadTooLarge {
    fn response() -> (&'r str, RefOr<Response>) {
        let description = "The body is larger than the service accepts (64 KiB unless the \
                           operator set `service.max_body_bytes`).";
        let problems = vec![rejection::payload_too_large()];
        ("PayloadTooLarge", problem_response(description, problems))
    }
}

/// 415 of operations with a JSON body.
pub(crate) struct UnsupportedMediaType;

impl<'r> ToResponse<'r> for UnsupportedMediaType {
    fn response() -> (&'r str, RefOr<Response>) {
        let description = "The body was not sent as `application/json` (or another `+json` type).";
        let problems = vec![rejection::unsupported_media_type()];
        (
            "UnsupportedMediaType",
            problem_response(description, problems),
        )
    }
}

/// 422 of a registration.
pub(crate) struct InvalidRegistration;

impl<'r> ToResponse<'r> for InvalidRegistration {
    fn response() -> (&'r str, RefOr<Response>) {
        let description =
            "A member is missing, of the wrong type or breaks its rule; `errors` lists every one.";
        let sent = body([("email", json!("ada@example")), ("is_active", json!("yes"))]);
        let problems = users::register_command(sent).err().unwrap_or_default();
        (
            "InvalidRegistration",
            validation_response(description, problems),
        )
    }
}

/// 422 of a partial update.
pub(crate) struct InvalidUpdate;

impl<'r> ToResponse<'r> for InvalidUpdate {
    fn response() -> (&'r str, RefOr<Response>) {
        let description = "A member is unknown (only `full_name` and `is_active` can be set), of \
                           the wrong type or breaks its rule; `errors` lists every one.";
        let sent = body([
            ("email", json!("ada@example.org")),
            ("is_active", json!("no")),
        ]);
        let problems = users::update_command(sent).err().unwrap_or_default();
        ("InvalidUpdate", validation_response(description, problems))
    }
}

/// 422 of a listing.
pub(crate) struct InvalidListing;

impl<'r> ToResponse<'r> for InvalidListing {
    fn response() -> (&'r str, RefOr<Response>) {
        let description = "`limit` is not a whole number from 1 to 500, or `cursor` is not a \
                           cursor this service issued; `errors` lists both.";
        let query = ListUsersQuery {
            cursor: Some("not-a-cursor".to_owned()),
            limit: Some(0),
        };
        (
            "InvalidListing",
            validation_response(description, query.problems()),
        )
    }
}

/// 503 of every operation that reads or writes users.
pub(crate) struct Unavailable;

impl<'r> ToResponse<'r> for Unavailable {
    fn response() -> (&'r str, RefOr<Response>) {
        let description = "The database failed or is out of reach; retry later.";
        let problem = Problem::from(&AppError::Unavailable("the database is down".into()));
        ("Unavailable", problem_response(description, vec![problem]))
    }
}
