//! The migration console: server-rendered pages on the admin listener for
//! deciding when a route is ready to flip.
//!
//! - `/-/console/`: every route of the table in force with its stage, the
//!   share each side serves, comparisons and mismatch rate per minute (every
//!   replica's, from the database), p50/p99 per side and the ready-to-flip
//!   verdict (the [`RouteSummary`](crate::shadow::summary::RouteSummary)
//!   the admin API serves, so the rule flip gating applies).
//! - `/-/console/routes/{route}`: the differing fields ranked, with examples;
//!   noise apart, with the ignore line to copy; the rules in force.
//! - `/-/console/diffs/{id}`: one recorded mismatch side by side, the
//!   differing fields highlighted, and the request that produced it.
//!
//! Pages are plain HTML with inline SVG charts and tables: everything reads
//! with JavaScript off; the one script only adds copy buttons. Every asset is
//! compiled into the binary ([`assets`]). Nothing is shown that the records
//! do not hold, and records hold nothing `[shadow] redact` hides
//! ([`crate::shadow::exchange`]).
//!
//! Access: as the rest of the admin API. With `GATEWAY_ADMIN_TOKEN` set, a
//! page needs `Authorization: Bearer <token>` or the cookie the login form
//! (`/-/console/login`) sets; the cookie is `HttpOnly`, `SameSite=Strict`,
//! scoped to `/-/console` and honoured by the console's pages only (which
//! change nothing), never by the rest of the admin API.

use axum::Router;
use axum::extract::{Form, Path, Query, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

mod assets;
mod chart;
mod json;
mod pages;
pub mod view;

use crate::admin::{AdminError, AdminState, has_bearer_token};
use crate::overrides::constant_time_eq;

/// How many minutes the charts cover by default: the last three hours.
pub const CHART_MINUTES: u32 = 180;
/// The cookie the login form sets: the admin token, percent-encoded.
pub const SESSION_COOKIE: &str = "gateway_console";
/// Where the console lives.
const BASE: &str = "/-/console/";

/// The console's routes, to merge into the admin router.
pub fn router(state: AdminState) -> Router<AdminState> {
    let pages = Router::new()
        .route("/-/console/", get(routes_page))
        .route("/-/console/routes/{route}", get(route_page))
        .route("/-/console/diffs/{id}", get(diff_page))
        .route_layer(axum::middleware::from_fn_with_state(state, require_session));
    Router::new()
        .route("/-/console", get(|| async { Redirect::to(BASE) }))
        .route("/-/console/login", get(login_form).post(login))
        .route("/-/console/logout", axum::routing::post(logout))
        .route("/-/console/assets/{file}", get(assets::serve))
        .merge(pages)
        .layer(axum::middleware::from_fn(secure_headers))
}

/// Whether the request may see the console: no token set, the bearer token, or the session cookie.
fn allowed(state: &AdminState, headers: &HeaderMap) -> bool {
    let Some(expected) = state.token.as_deref() else {
        return true;
    };
    has_bearer_token(headers, expected)
        || session_token(headers)
            .is_some_and(|given| constant_time_eq(given.as_bytes(), expected.as_bytes()))
}

/// The token in the session cookie, if the request has one.
fn session_token(headers: &HeaderMap) -> Option<String> {
    gateway_routing::cookie(headers, SESSION_COOKIE)
        .map(|value| percent_decode_str(value).decode_utf8_lossy().into_owned())
}

/// Sends a visitor without access to the login form, remembering the page.
async fn require_session(
    State(state): State<AdminState>,
    request: Request,
    next: Next,
) -> Response {
    if allowed(&state, request.headers()) {
        return next.run(request).await;
    }
    let wanted = request
        .uri()
        .path_and_query()
        .map_or(BASE, |p| p.as_str())
        .to_owned();
    let to = format!(
        "/-/console/login?next={}",
        utf8_percent_encode(&wanted, NON_ALPHANUMERIC)
    );
    Redirect::to(&to).into_response()
}

/// Headers every console response carries: nothing from other origins, no framing, no caching.
async fn secure_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Query of the login form: the page to return to.
#[derive(Debug, Default, serde::Deserialize)]
struct LoginQuery {
    next: Option<String>,
}

/// What the login form posts.
#[derive(Debug, serde::Deserialize)]
struct LoginForm {
    token: String,
    next: Option<String>,
}

/// Only the console's own pages are returned to after a login (no open redirect).
fn return_to(next: Option<&str>) -> &str {
    match next {
        Some(next)
            if next.starts_with(BASE)
                && !next.contains("//")
                && !next.contains('\\')
                && !next.starts_with("/-/console/login") =>
        {
            next
        }
        _ => BASE,
    }
}

/// `GET /-/console/login`: the form (or straight on, when no token is needed).
async fn login_form(State(state): State<AdminState>, Query(query): Query<LoginQuery>) -> Response {
    let next = return_to(query.next.as_deref()).to_owned();
    if state.token.is_none() {
        return Redirect::to(&next).into_response();
    }
    pages::login(&next, None).into_response()
}

/// `POST /-/console/login`: checks the token and sets the session cookie.
async fn login(
    State(state): State<AdminState>,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return (
            StatusCode::BAD_REQUEST,
            pages::login(
                BASE,
                Some("The form was not understood; enter the token again."),
            ),
        )
            .into_response();
    };
    let next = return_to(form.next.as_deref()).to_owned();
    let Some(expected) = state.token.as_deref() else {
        return Redirect::to(&next).into_response();
    };
    if !constant_time_eq(form.token.trim().as_bytes(), expected.as_bytes()) {
        tracing::warn!("console login refused: wrong admin token");
        return (
            StatusCode::UNAUTHORIZED,
            pages::login(&next, Some("That is not the admin token.")),
        )
            .into_response();
    }
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/-/console; HttpOnly; SameSite=Strict",
        utf8_percent_encode(expected, NON_ALPHANUMERIC)
    );
    let mut response = Redirect::to(&next).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// `POST /-/console/logout`: forgets the session cookie.
async fn logout() -> Response {
    let mut response = Redirect::to("/-/console/login").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "gateway_console=; Path=/-/console; HttpOnly; SameSite=Strict; Max-Age=0",
        ),
    );
    response
}

/// `GET /-/console/`: every route of the table in force.
async fn routes_page(State(state): State<AdminState>) -> Result<Response, AdminError> {
    let rows = view::route_rows(&state, CHART_MINUTES).await?;
    let active = state.routes.current();
    let upstreams = crate::admin::upstream_views(&active);
    Ok(pages::routes(
        &rows,
        &upstreams,
        active.table.version(),
        state.token.is_some(),
    )
    .into_response())
}

/// `GET /-/console/routes/{route}`: one route in detail.
async fn route_page(
    State(state): State<AdminState>,
    Path(route): Path<String>,
) -> Result<Response, AdminError> {
    let detail = view::route_detail(&state, &route, CHART_MINUTES).await?;
    Ok(pages::route(&detail, state.token.is_some()).into_response())
}

/// `GET /-/console/diffs/{id}`: one recorded mismatch.
async fn diff_page(
    State(state): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    let recorder = state.shadowing.recorder().ok_or(AdminError::NoRecords)?;
    let not_found = || AdminError::NotFound("no such record".to_owned());
    let id = uuid::Uuid::try_parse(&id).map_err(|_| not_found())?;
    let record = recorder.store().get(id).await?.ok_or_else(not_found)?;
    Ok(pages::diff(&record, state.token.is_some()).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_console_pages_are_returned_to_after_a_login() {
        let cases = [
            (None, BASE),
            (
                Some("/-/console/routes/get-user"),
                "/-/console/routes/get-user",
            ),
            (Some("https://evil.example/"), BASE),
            (Some("//evil.example/-/console/"), BASE),
            (Some("/-/console//evil.example"), BASE),
            (Some("/-/console/\\evil"), BASE),
            (Some("/-/reload"), BASE),
            (Some("/-/console/login?next=x"), BASE),
        ];
        for (next, expected) in cases {
            assert_eq!(return_to(next), expected, "{next:?}");
        }
    }

    #[test]
    fn the_session_cookie_is_found_among_others_and_decoded() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; gateway_console=s%20cr%3Bt; b=2"),
        );
        assert_eq!(session_token(&headers).as_deref(), Some("s cr;t"));
        assert_eq!(session_token(&HeaderMap::new()), None);
    }
}
