//! The composition root: each command of the command line, wired from the parts.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpListener;

use crate::admin::{self, AdminState};
use crate::cli::ServeArgs;
use crate::config::{Overrides, Settings};
use crate::proxy::Gateway;
use crate::reload::{self, RouteState};
use crate::routes::RouteTable;
use crate::server;
use crate::shadow::Shadowing;
use crate::shadow::recorder::{Recorder, Retention};
use crate::shadow::store::ShadowStore;

/// `gateway serve`: runs until SIGTERM or SIGINT, then drains and returns.
///
/// # Errors
///
/// Any start-up failure (settings, route table, database, binding), with context.
pub async fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    let settings =
        Settings::load(args.config.as_deref(), &args.overrides()).context("loading settings")?;
    if !settings.admin_listen.ip().is_loopback() && settings.admin_token.is_none() {
        bail!(
            "the admin API would listen on {} (beyond loopback) without a token: set GATEWAY_ADMIN_TOKEN, or bind it to 127.0.0.1",
            settings.admin_listen
        );
    }
    let metrics_handle = crate::metrics::install().context("installing the metrics recorder")?;
    let routes = Arc::new(RouteState::load(&settings.routes).map_err(|e| anyhow::anyhow!("{e}"))?);

    if settings.database.run_migrations {
        migration::migrate_up(&settings.database.url)
            .await
            .with_context(|| format!("migrating {}", settings.database.redacted_url()))?;
    }
    let accounts = accounts::build(&settings.accounts())
        .await
        .context("starting the accounts service")?;

    let listener = TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("binding {}", settings.listen))?;
    let admin_listener = TcpListener::bind(settings.admin_listen)
        .await
        .with_context(|| format!("binding the admin API to {}", settings.admin_listen))?;
    let listen = listener.local_addr()?;
    let admin_listen = admin_listener.local_addr()?;

    let _watcher = if settings.server.watch_routes {
        Some(reload::watch(routes.clone()).context("watching the routes file")?)
    } else {
        None
    };
    reload::reload_on_sighup(routes.clone()).context("installing the SIGHUP handler")?;

    let store_db = accounts::connect_database(&accounts::DatabaseSettings {
        max_connections: 4,
        ..settings.database.clone()
    })
    .await
    .context("connecting to the database for shadow records")?;
    let (recorder, recorder_task) = Recorder::spawn(
        ShadowStore::new(store_db),
        settings.shadow_records.queue,
        Retention {
            max_records: settings.shadow_records.max_records,
            max_age: std::time::Duration::from_secs(settings.shadow_records.max_age_secs),
        },
    );
    let shadowing = Arc::new(Shadowing::new(Some(recorder)));
    let gateway = Gateway::new(
        routes.clone(),
        shadowing.clone(),
        accounts.router(),
        settings.server.max_body_bytes,
        settings.server.access_log,
    );
    let admin_router = admin::router(AdminState {
        routes: routes.clone(),
        accounts: accounts.clone(),
        token: settings.admin_token.as_deref().map(Arc::from),
        metrics: Some(metrics_handle),
        shadowing: shadowing.clone(),
    });

    let (stop_admin, admin_stopped) = tokio::sync::oneshot::channel::<()>();
    let admin_task = tokio::spawn(async move {
        axum::serve(admin_listener, admin_router)
            .with_graceful_shutdown(async {
                let _ = admin_stopped.await;
            })
            .await
    });

    tracing::info!(%listen, %admin_listen, routes = %routes.path().display(), version = routes.current().table.version(), database = %settings.database.redacted_url(), "gateway ready");
    // One line on stdout for scripts: `gateway ready listen=ADDR admin_listen=ADDR`.
    println!("gateway ready listen={listen} admin_listen={admin_listen}");

    let drained = server::serve(
        listener,
        gateway,
        &settings.server,
        server::shutdown_signal(),
    )
    .await;
    let _ = stop_admin.send(());
    if let Ok(Err(err)) = admin_task.await {
        tracing::warn!(error = %err, "admin server ended with an error");
    }
    // Nothing recorded is lost on a clean stop: write what is queued, then the counts.
    if let Some(recorder) = shadowing.recorder() {
        recorder.wait_idle(std::time::Duration::from_secs(5)).await;
        recorder.flush_counts().await;
    }
    recorder_task.abort();
    accounts.close().await.context("closing the database")?;
    tracing::info!(drained, "gateway stopped");
    Ok(())
}

/// `gateway check [FILE]`: validates a routes file; returns the summary line.
///
/// # Errors
///
/// Every problem of the file, one per line, as `file:line:column: message`.
pub fn check(file: Option<PathBuf>, config: Option<PathBuf>) -> anyhow::Result<String> {
    let file = match file {
        Some(file) => file,
        None => {
            Settings::load(config.as_deref(), &Overrides::default())
                .context("loading settings")?
                .routes
        }
    };
    let table = RouteTable::load(&file).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(format!(
        "{}: ok ({} route(s), version {})",
        file.display(),
        table.routes().len(),
        table.version()
    ))
}

/// `gateway status`: fetches `/-/routes` from a running gateway and renders it as a table.
///
/// # Errors
///
/// When the admin API cannot be reached or answers with an error.
pub async fn status(admin_url: Option<String>, config: Option<PathBuf>) -> anyhow::Result<String> {
    let settings =
        Settings::load(config.as_deref(), &Overrides::default()).context("loading settings")?;
    let base = admin_url.unwrap_or_else(|| format!("http://{}", settings.admin_listen));
    let uri: http::Uri = format!("{}/-/routes", base.trim_end_matches('/'))
        .parse()
        .with_context(|| format!("invalid admin URL {base}"))?;
    let mut request = http::Request::get(uri.clone());
    if let Some(token) = &settings.admin_token {
        request = request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let response = client
        .request(request.body(Empty::new())?)
        .await
        .with_context(|| format!("reaching the admin API at {uri}"))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .context("reading the admin API's answer")?
        .to_bytes();
    if !status.is_success() {
        bail!(
            "the admin API answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    let routes: serde_json::Value =
        serde_json::from_slice(&body).context("the admin API's answer is not JSON")?;
    Ok(render_status(&routes))
}

/// Renders the `/-/routes` document as a fixed-width table.
pub fn render_status(doc: &serde_json::Value) -> String {
    let table = &doc["table"];
    let mut rows = vec![[
        "ROUTE".to_owned(),
        "MATCH".to_owned(),
        "METHODS".to_owned(),
        "TARGET".to_owned(),
    ]];
    for route in table["routes"].as_array().into_iter().flatten() {
        let methods = route["methods"]
            .as_array()
            .map(|m| {
                m.iter()
                    .filter_map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_else(|| "*".to_owned());
        rows.push([
            route["name"].as_str().unwrap_or("?").to_owned(),
            format!(
                "{} {}",
                route["match"]["kind"].as_str().unwrap_or("?"),
                route["match"]["value"].as_str().unwrap_or("?")
            ),
            methods,
            route["target"].as_str().unwrap_or("?").to_owned(),
        ]);
    }
    rows.push([
        "(default)".to_owned(),
        "anything else".to_owned(),
        "*".to_owned(),
        table["default_target"].as_str().unwrap_or("?").to_owned(),
    ]);
    let widths: Vec<usize> = (0..4)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = format!(
        "route table {} loaded {} from {}\n",
        table["version"].as_str().unwrap_or("?"),
        doc["loaded_at"].as_str().unwrap_or("?"),
        doc["file"].as_str().unwrap_or("?")
    );
    if let Some(error) = doc["reloads"]["last_error"].as_object() {
        out.push_str(&format!(
            "LAST RELOAD REJECTED at {}:\n",
            error.get("at").and_then(|v| v.as_str()).unwrap_or("?")
        ));
        for problem in error
            .get("problems")
            .and_then(|p| p.as_array())
            .into_iter()
            .flatten()
        {
            out.push_str(&format!("  {}\n", problem.as_str().unwrap_or("?")));
        }
    }
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}
