//! The composition root: each command of the command line, wired from the parts.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, bail};
use tokio::net::TcpListener;

use crate::admin::{self, AdminState};
use crate::cli::ServeArgs;
use crate::config::{Overrides, Settings};
use crate::overrides::Override;
use crate::proxy::{Gateway, SideOptions};
use crate::reload::{self, RouteState};
use crate::routes::RouteTable;
use crate::server;
use crate::shadow::Shadowing;
use crate::shadow::headroom::Headroom;
use crate::shadow::recorder::{Recorder, Retention};
use crate::shadow::store::ShadowStore;
use http::HeaderName;

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

    let sides = side_options(&settings)?;
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
            counts_max_age: std::time::Duration::from_secs(
                settings.shadow_records.counts_max_age_secs,
            ),
        },
    );
    // Before the first request and the first reload: a restart must not serve an unearned flip.
    routes.gate_at_startup(recorder.clone()).await;
    let _watcher = if settings.server.watch_routes {
        Some(reload::watch(routes.clone()).context("watching the routes file")?)
    } else {
        None
    };
    reload::reload_on_sighup(routes.clone()).context("installing the SIGHUP handler")?;
    let headroom = Headroom::spawn(&tokio::runtime::Handle::current());
    let shadowing = Arc::new(Shadowing::new(Some(recorder)).with_headroom(headroom));
    let gateway = Gateway::new(
        routes.clone(),
        shadowing.clone(),
        accounts.router(),
        settings.server.max_body_bytes,
        settings.server.access_log,
        sides,
    );
    let draining = Arc::new(AtomicBool::new(false));
    let admin_router = admin::router(AdminState {
        routes: routes.clone(),
        accounts: accounts.clone(),
        token: settings.admin_token.as_deref().map(Arc::from),
        metrics: Some(metrics_handle),
        shadowing: shadowing.clone(),
        draining: draining.clone(),
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

    let signalled = {
        let draining = draining.clone();
        async move {
            server::shutdown_signal().await;
            draining.store(true, Ordering::SeqCst);
            tracing::info!("shutdown requested; draining requests in flight");
        }
    };
    let drained = server::serve(listener, gateway, &settings.server, signalled).await;
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

/// The override and served-by settings, checked.
fn side_options(settings: &Settings) -> anyhow::Result<SideOptions> {
    let forced = match (&settings.override_header, &settings.override_secret) {
        (None, _) => None,
        (Some(_), None) => bail!(
            "override_header is set but GATEWAY_OVERRIDE_SECRET is not: the override needs a shared secret"
        ),
        (Some(_), Some(secret)) if secret.len() < 16 => {
            bail!("GATEWAY_OVERRIDE_SECRET must be at least 16 characters")
        }
        (Some(name), Some(secret)) => Some(Override::new(
            HeaderName::from_bytes(name.as_bytes())
                .with_context(|| format!("invalid override_header {name:?}"))?,
            secret.clone(),
        )),
    };
    let served_by = match settings.served_by_header.as_str() {
        "" => None,
        name => Some(
            HeaderName::from_bytes(name.as_bytes())
                .with_context(|| format!("invalid served_by_header {name:?}"))?,
        ),
    };
    Ok(SideOptions { forced, served_by })
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

/// `gateway status`: each route's stage, traffic split and shadow results, from a running gateway.
///
/// # Errors
///
/// When the admin API cannot be reached or answers with an error.
pub async fn status(admin_url: Option<String>, config: Option<PathBuf>) -> anyhow::Result<String> {
    let settings =
        Settings::load(config.as_deref(), &Overrides::default()).context("loading settings")?;
    let base = admin_url.unwrap_or_else(|| format!("http://{}", settings.admin_listen));
    let token = settings.admin_token.as_deref();
    let routes = crate::status::fetch(&base, "/-/routes", token).await?;
    // A gateway without shadow records still has a status.
    let shadow = crate::status::fetch(&base, "/-/shadow", token).await.ok();
    Ok(crate::status::render(&routes, shadow.as_ref()))
}
