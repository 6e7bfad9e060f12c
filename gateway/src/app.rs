//! The composition root: [`build`] wires the gateway from its settings, [`App::serve`] runs it.
//!
//! `gateway serve` ([`serve`]), the end-to-end tests (through the binary)
//! and the in-process telemetry tests all go through [`build`]: there is one
//! wiring path. The other commands, `check` and `status`, are here too.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::admin::{self, AdminState};
use crate::cli::ServeArgs;
use crate::config::{Overrides, ServerTlsSettings, Settings};
use crate::proxy::Gateway;
use crate::reload::{self, RouteState};
use crate::server;
use crate::server::tls::ClientTls;
use crate::shadow::Shadowing;
use crate::shadow::headroom::Headroom;
use crate::shadow::recorder::{Recorder, Retention};
use crate::shadow::store::ShadowStore;
use crate::telemetry::ErrorChain;
use crate::upstream::AccountsUpstream;
use gateway_routing::RouteTable;

/// A gateway wired and bound, not yet serving.
pub struct App {
    settings: Settings,
    listener: TcpListener,
    admin_listener: TcpListener,
    gateway: Gateway,
    routes: Arc<RouteState>,
    admin_router: axum::Router,
    accounts: accounts::Accounts,
    recorder: Recorder,
    recorder_task: JoinHandle<()>,
    migrations: Option<JoinHandle<()>>,
    draining: Arc<AtomicBool>,
    _watcher: Option<notify::RecommendedWatcher>,
    tls: Option<ClientTlsRuntime>,
}

/// TLS on the client listener, and the tasks that reload its certificate.
struct ClientTlsRuntime {
    tls: Arc<ClientTls>,
    reloaders: Vec<JoinHandle<()>>,
}

/// Loads the client listener's certificate when `server.tls` names one, and
/// starts reloading it (polling the files, and on SIGHUP).
fn client_tls(settings: &ServerTlsSettings) -> anyhow::Result<Option<ClientTlsRuntime>> {
    let Some((cert_file, key_file)) = settings.files()? else {
        return Ok(None);
    };
    let tls = Arc::new(
        ClientTls::load(cert_file, key_file)
            .context("loading the client TLS certificate (server.tls)")?,
    );
    let mut reloaders = vec![
        tls.reload_on_sighup()
            .context("installing the SIGHUP handler for the TLS certificate")?,
    ];
    if let Some(interval) = settings.watch_interval() {
        reloaders.push(tls.watch(interval));
    }
    Ok(Some(ClientTlsRuntime { tls, reloaders }))
}

/// Wires the gateway from `settings`: the route table, pending migrations,
/// the accounts service, the shadow recorder, flip gating at start-up, the
/// file watcher and SIGHUP, and both listeners (bound, so their addresses
/// are known: port 0 picks a free one).
///
/// # Errors
///
/// Any start-up failure (route table, database, binding), with context.
pub async fn build(settings: Settings) -> anyhow::Result<App> {
    let metrics_handle = crate::metrics::install().context("installing the metrics recorder")?;
    // The files are checked before anything else: a bad table or certificate never gets as far as the database.
    RouteTable::load(&settings.routes).map_err(|e| anyhow::anyhow!("{e}"))?;
    let tls = client_tls(&settings.server.tls)?;
    // An unreachable database is no reason not to start: legacy routes do not need it.
    let accounts = accounts::build(&settings.accounts())
        .await
        .context("starting the accounts service")?;
    let migrations = if settings.database.run_migrations {
        migrate(&settings.database, &accounts).await
    } else {
        None
    };
    let routes = Arc::new(
        RouteState::load(&settings.routes, AccountsUpstream::new(accounts.service()))
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    );

    let listener = TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("binding {}", settings.listen))?;
    let admin_listener = TcpListener::bind(settings.admin_listen)
        .await
        .with_context(|| format!("binding the admin API to {}", settings.admin_listen))?;

    // Lazy: the recorder's writes fail while the database is away and resume when it is back.
    let store_db = accounts::connect_database_lazy(&accounts::DatabaseSettings {
        max_connections: 4,
        ..settings.database.clone()
    })
    .await
    .context("connecting to the database for shadow records")?;
    let records = &settings.shadow_records;
    let (recorder, recorder_task) = Recorder::spawn(
        ShadowStore::new(store_db).with_seal_key(records.seal_key()?.map(Arc::new)),
        records.queue,
        Retention {
            max_records: records.max_records,
            max_age: std::time::Duration::from_secs(records.max_age_secs),
            counts_max_age: std::time::Duration::from_secs(records.counts_max_age_secs),
        },
    );
    // Before the first request and the first reload: a restart must not serve an unearned flip.
    routes.gate_at_startup(recorder.clone()).await;
    let watcher = if settings.server.watch_routes {
        Some(reload::watch(routes.clone()).context("watching the routes file")?)
    } else {
        None
    };
    reload::reload_on_sighup(routes.clone()).context("installing the SIGHUP handler")?;

    let headroom = Headroom::spawn(&tokio::runtime::Handle::current());
    let shadowing = Arc::new(Shadowing::new(Some(recorder.clone())).with_headroom(headroom));
    shadowing.meter_database();
    let gateway = Gateway::new(routes.clone(), shadowing.clone(), &settings);
    let draining = Arc::new(AtomicBool::new(false));
    let admin_router = admin::router(AdminState {
        routes: routes.clone(),
        accounts: accounts.clone(),
        token: settings.admin_token.as_deref().map(Arc::from),
        metrics: Some(metrics_handle),
        shadowing,
        draining: draining.clone(),
        readiness: settings.readiness.clone(),
    });
    Ok(App {
        settings,
        listener,
        admin_listener,
        gateway,
        routes,
        admin_router,
        accounts,
        recorder,
        recorder_task,
        migrations,
        draining,
        _watcher: watcher,
        tls,
    })
}

/// The first wait before migrations are tried again; it doubles up to [`MIGRATION_MAX_BACKOFF`].
const MIGRATION_FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// The longest wait between two tries of the migrations.
const MIGRATION_MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Applies pending migrations, holding the service (its requests answer 503)
/// until they are. When the database cannot be migrated now, the gateway
/// starts anyway and a background task retries with backoff: the returned
/// handle.
async fn migrate(
    database: &accounts::DatabaseSettings,
    accounts: &accounts::Accounts,
) -> Option<JoinHandle<()>> {
    let availability = accounts.availability().clone();
    availability.hold("migrations are pending");
    let url = database.url.clone();
    let redacted = database.redacted_url();
    match migration::migrate_up(&url).await {
        Ok(()) => {
            availability.release();
            return None;
        }
        Err(err) => {
            tracing::warn!(database = %redacted, error = %ErrorChain(&err), "cannot apply migrations now: serving legacy routes, service routes answer 503; retrying in the background");
        }
    }
    Some(tokio::spawn(async move {
        let mut backoff = MIGRATION_FIRST_BACKOFF;
        loop {
            tokio::time::sleep(backoff).await;
            match migration::migrate_up(&url).await {
                Ok(()) => {
                    availability.release();
                    tracing::info!(database = %redacted, "migrations applied: service routes are served");
                    return;
                }
                Err(err) => {
                    backoff = (backoff * 2).min(MIGRATION_MAX_BACKOFF);
                    tracing::warn!(database = %redacted, error = %ErrorChain(&err), retry_in = ?backoff, "cannot apply migrations yet");
                }
            }
        }
    }))
}

impl App {
    /// The address clients connect to.
    ///
    /// # Errors
    ///
    /// The socket's error (it is bound, so in practice none).
    pub fn listen(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Whether clients connect over TLS (`server.tls`).
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The admin API's address.
    ///
    /// # Errors
    ///
    /// As [`App::listen`].
    pub fn admin_listen(&self) -> std::io::Result<SocketAddr> {
        self.admin_listener.local_addr()
    }

    /// Serves clients and the admin API until `shutdown` completes, then
    /// drains: readiness fails at once, requests in flight finish (within
    /// `server.shutdown_grace_secs`), queued shadow records and counts are
    /// written, and the database is closed.
    ///
    /// # Errors
    ///
    /// When closing the database fails.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let (stop_admin, admin_stopped) = tokio::sync::oneshot::channel::<()>();
        let admin_router = self.admin_router;
        let admin_listener = self.admin_listener;
        let admin_task = tokio::spawn(async move {
            axum::serve(admin_listener, admin_router)
                .with_graceful_shutdown(async {
                    let _ = admin_stopped.await;
                })
                .await
        });
        let draining = self.draining.clone();
        let signalled = async move {
            shutdown.await;
            draining.store(true, Ordering::SeqCst);
            tracing::info!("shutdown requested; draining requests in flight");
        };
        let drained = server::serve(
            self.listener,
            self.gateway,
            &self.settings.server,
            self.tls.as_ref().map(|runtime| runtime.tls.acceptor()),
            signalled,
        )
        .await;
        for reloader in self.tls.iter().flat_map(|runtime| &runtime.reloaders) {
            reloader.abort();
        }
        let _ = stop_admin.send(());
        if let Ok(Err(err)) = admin_task.await {
            tracing::warn!(error = %err, "admin server ended with an error");
        }
        // Nothing recorded is lost on a clean stop: write what is queued, then the counts.
        self.recorder
            .wait_idle(std::time::Duration::from_secs(5))
            .await;
        self.recorder.flush_counts().await;
        self.recorder_task.abort();
        if let Some(migrations) = self.migrations {
            migrations.abort();
        }
        self.accounts
            .close()
            .await
            .context("closing the database")?;
        tracing::info!(drained, "gateway stopped");
        Ok(())
    }
}

/// The settings `gateway serve` runs with: defaults, file, environment, then `args`.
///
/// # Errors
///
/// When they cannot be read or are unusable ([`crate::config::SettingsError`]).
pub fn serve_settings(args: &ServeArgs) -> anyhow::Result<Settings> {
    Settings::load(args.config.as_deref(), &args.overrides()).context("loading settings")
}

/// `gateway serve`: runs until SIGTERM or SIGINT, then drains and returns.
///
/// # Errors
///
/// Any start-up failure (route table, database, binding), with context.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let database = settings.database.redacted_url();
    let workers = settings.server.worker_threads();
    let app = build(settings).await?;
    let (listen, admin_listen) = (app.listen()?, app.admin_listen()?);
    let scheme = if app.is_tls() { "https" } else { "http" };
    tracing::info!(%listen, %admin_listen, scheme, routes = %app.routes.path().display(), version = app.routes.current().table.version(), %database, workers, "gateway ready");
    // One line on stdout for scripts: `gateway ready listen=ADDR admin_listen=ADDR`.
    println!("gateway ready listen={listen} admin_listen={admin_listen}");
    app.serve(server::shutdown_signal()).await
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
            Settings::read(config.as_deref(), &Overrides::default())
                .context("loading settings")?
                .routes
        }
    };
    let table = RouteTable::load(&file).map_err(|e| anyhow::anyhow!("{e}"))?;
    // `[legacy.tls]` names files: read them as a start would.
    crate::reload::client_settings(&table, &file).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut report = format!(
        "{}: ok ({} route(s), version {})",
        file.display(),
        table.routes().len(),
        table.version()
    );
    // One line per upstream, after the summary line scripts read.
    for (index, upstream) in table.upstreams().iter().enumerate() {
        let routes = table.routes_reaching(index);
        report.push_str(&format!(
            "\n  upstream {}: {} address(es), {}; serves {}",
            upstream.name(),
            upstream.urls().len(),
            upstream.balance().as_str(),
            if routes.is_empty() {
                "no route (unused)".to_owned()
            } else {
                routes.join(", ")
            }
        ));
    }
    Ok(report)
}

/// `gateway health [--ready]`: probes a running gateway's admin API; returns its answer.
///
/// # Errors
///
/// When the admin API cannot be reached within 2 s or answers other than 200.
pub async fn health(
    admin_url: Option<String>,
    ready: bool,
    config: Option<PathBuf>,
) -> anyhow::Result<String> {
    let settings =
        Settings::read(config.as_deref(), &Overrides::default()).context("loading settings")?;
    let base = admin_url.unwrap_or_else(|| format!("http://{}", settings.admin_listen));
    let probe = if ready { "/-/readyz" } else { "/-/healthz" };
    let answer = tokio::time::timeout(
        Duration::from_secs(2),
        crate::status::fetch(&base, probe, None),
    )
    .await
    .map_err(|_| anyhow::anyhow!("no answer from {base}{probe} within 2 s"))??;
    Ok(answer.to_string())
}

/// `gateway status`: each route's stage, traffic split and shadow results, from a running gateway.
///
/// # Errors
///
/// When the admin API cannot be reached or answers with an error.
pub async fn status(admin_url: Option<String>, config: Option<PathBuf>) -> anyhow::Result<String> {
    let settings =
        Settings::read(config.as_deref(), &Overrides::default()).context("loading settings")?;
    let base = admin_url.unwrap_or_else(|| format!("http://{}", settings.admin_listen));
    let token = settings.admin_token.as_deref();
    let routes = crate::status::fetch(&base, "/-/routes", token).await?;
    // A gateway without shadow records still has a status.
    let shadow = crate::status::fetch(&base, "/-/shadow", token).await.ok();
    let mut out = crate::status::render(&routes, shadow.as_ref());
    // A gateway from before `/-/upstreams` still has a status.
    if let Ok(upstreams) = crate::status::fetch(&base, "/-/upstreams", token).await {
        out.push('\n');
        out.push_str(&crate::status::render_upstreams(&upstreams));
    }
    Ok(out)
}

/// `gateway replay`: asks the admin API to replay `route`'s recorded mismatches; the report as text.
///
/// # Errors
///
/// When the settings cannot be read, or the admin API cannot be reached or refuses.
pub async fn replay(
    route: &str,
    since: Option<std::time::Duration>,
    limit: Option<u64>,
    admin_url: Option<String>,
    config: Option<PathBuf>,
) -> anyhow::Result<String> {
    let settings =
        Settings::read(config.as_deref(), &Overrides::default()).context("loading settings")?;
    let base = admin_url.unwrap_or_else(|| format!("http://{}", settings.admin_listen));
    let path = crate::replay::path(route, since, limit);
    let report = crate::status::call(
        http::Method::POST,
        &base,
        &path,
        settings.admin_token.as_deref(),
    )
    .await?;
    Ok(crate::replay::render(&report))
}
