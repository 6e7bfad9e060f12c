//! The route table in force, and its live reload (file watch, SIGHUP, admin endpoint).
//!
//! A reload parses and validates the whole file, gates it ([`gateway_routing::flip`]),
//! then swaps it in atomically ([`ArcSwap`]): a request holds the table it
//! started with until it ends. A bad or unearned file is rejected, logged
//! with its reasons, counted, and shown at `/-/routes`; the previous table
//! stays in force.
//!
//! At start-up the file is gated too ([`RouteState::gate_at_startup`]), against
//! the shares the fleet accepted: a route whose file asks for more service
//! share than it has earned is *held* at its earned share (logged as an
//! error, shown at `/-/routes` and by `gateway status`) instead of refusing
//! to start. A later reload that earns the flip lifts the hold.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use notify::event::{AccessKind, AccessMode, EventKind, ModifyKind};
use notify::{RecursiveMode, Watcher};
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::metrics::RequestMetrics;
use crate::shadow::recorder::{Recorder, now};
use crate::shadow::results::route_results;
use crate::shadow::store::EarnedShare;
use crate::upstream::{
    AccountsUpstream, AddressSettings, ClientSettings, LegacyUpstream, TlsClient, Upstreams,
};
use gateway_routing::flip::{self, Decision, Ruling, readiness};
use gateway_routing::{RouteTable, RouteTableError};

/// A route table together with the upstreams it configures.
pub struct Active {
    /// The table requests are routed by: the file's, with held routes at their earned share.
    pub table: RouteTable,
    /// The sides requests are sent to: the table's legacy upstreams (pooled clients) and the service.
    pub upstreams: Upstreams,
    /// When this table was swapped in.
    pub loaded_at: DateTime<Utc>,
    /// Slots for mirrors in flight (`[shadow] max_in_flight`).
    pub shadow_permits: Arc<Semaphore>,
    /// Routes served below the share the file asks for, because it is not earned yet.
    pub held: Vec<Hold>,
    /// Since when each shadowed route's comparison rules are in force (fleet-wide).
    pub rules_since: HashMap<String, DateTime<Utc>>,
    /// The request series of the table's routes, resolved once.
    pub request_metrics: RequestMetrics,
}

impl Active {
    fn new(table: RouteTable, upstreams: Upstreams) -> Self {
        let permits = table.shadow_settings().max_in_flight;
        crate::metrics::register_upstreams(table.upstreams().iter().map(|u| u.name()));
        crate::metrics::register_shadowed_routes(
            table
                .routes()
                .iter()
                .filter(|route| route.shadow().is_some())
                .map(|route| route.name()),
        );
        Self {
            upstreams,
            loaded_at: Utc::now(),
            shadow_permits: Arc::new(Semaphore::new(permits)),
            held: Vec::new(),
            rules_since: HashMap::new(),
            request_metrics: RequestMetrics::new(
                table
                    .routes()
                    .iter()
                    .map(|route| (route.name(), route.upstream_name())),
                table.upstreams()[table.default_upstream()].name(),
            ),
            table,
        }
    }
}

/// A route held at its earned service share at start-up.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hold {
    /// The route's name.
    pub route: String,
    /// The share the file asks for, in percent.
    pub file_service_percent: f64,
    /// The share served: what the fleet accepted, or the default target's.
    pub service_percent: f64,
    /// Why, with the figures.
    pub reason: String,
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum ReloadOutcome {
    /// The file changed and its table is now in force.
    Reloaded {
        /// The new table's version.
        version: String,
    },
    /// The file is identical to the table in force; nothing was swapped.
    Unchanged {
        /// The version in force.
        version: String,
    },
}

/// The reload history shown at `/-/routes`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReloadStats {
    /// Reloads that swapped in a new table.
    pub succeeded: u64,
    /// Reloads rejected because the file was invalid or unreadable.
    pub failed: u64,
    /// The most recent rejection, cleared by the next reload that finds a valid file.
    pub last_error: Option<ReloadFailure>,
}

/// One rejected reload.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadFailure {
    /// When it was rejected.
    pub at: DateTime<Utc>,
    /// What started it: `file-change`, `sighup` or `admin`.
    pub trigger: String,
    /// Every problem, as `file:line:column: message`.
    pub problems: Vec<String>,
}

/// The route table in force and how it got there.
pub struct RouteState {
    path: PathBuf,
    active: ArcSwap<Active>,
    stats: Mutex<ReloadStats>,
    /// Serialises reloads so two triggers never interleave.
    reloading: tokio::sync::Mutex<()>,
    /// Where flip gating reads the recorded shadow results; no gating without it.
    results: OnceLock<Recorder>,
}

/// Why a reload was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The file is unreadable or invalid.
    #[error(transparent)]
    Invalid(#[from] RouteTableError),
    /// The file raises a route's service share without the shadow results its `require` asks for.
    #[error("{}", .problems.join("\n"))]
    Gated {
        /// One line per gated route, with the figures.
        problems: Vec<String>,
    },
}

impl RouteState {
    /// Loads the table at `path` for start-up, ungated (see
    /// [`RouteState::gate_at_startup`]), sending to `accounts` for the service.
    ///
    /// # Errors
    ///
    /// [`RouteTableError`] with every problem; the gateway refuses to start.
    pub fn load(path: &Path, accounts: AccountsUpstream) -> Result<Self, RouteTableError> {
        let table = RouteTable::load(path)?;
        let upstreams = Upstreams {
            legacy: legacy_upstreams(client_settings(&table, path)?, &[]),
            accounts,
        };
        crate::metrics::set_route_table(table.version(), None, unix_now());
        Ok(Self {
            path: path.to_path_buf(),
            active: ArcSwap::from_pointee(Active::new(table, upstreams)),
            stats: Mutex::new(ReloadStats::default()),
            reloading: tokio::sync::Mutex::new(()),
            results: OnceLock::new(),
        })
    }

    /// The table in force now.
    pub fn current(&self) -> Arc<Active> {
        self.active.load_full()
    }

    /// The file the table is read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The reload history.
    pub fn stats(&self) -> ReloadStats {
        self.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Gates the loaded table on the shadow results and the shares the fleet
    /// accepted, as a reload would, and from now on gates every reload so.
    ///
    /// A route whose file raises its service share beyond what it earned is
    /// held at the share it is allowed, unless it says `force = true`; each
    /// hold is logged as an error. The shares this replica now serves are
    /// recorded for the fleet (see [`flip::shares_to_record`]).
    pub async fn gate_at_startup(&self, recorder: Recorder) {
        let _serialised = self.reloading.lock().await;
        let loaded = self.current();
        let accepted = accepted_shares(&recorder).await;
        let rules_since = rule_epochs(&recorder, &loaded.table, None, &HashMap::new()).await;
        let rulings = rule(&recorder, None, &accepted, &loaded.table, &rules_since).await;
        let mut table = loaded.table.clone();
        let mut held = Vec::new();
        for ruling in rulings {
            match ruling.decision {
                Decision::Earned => {}
                Decision::Forced => {
                    tracing::warn!(
                        trigger = "startup",
                        "flip forced by `force = true`: {}",
                        ruling.message
                    );
                }
                Decision::Refused => {
                    let Some(route) = table
                        .routes()
                        .iter()
                        .find(|r| r.name() == ruling.raise.route)
                    else {
                        continue;
                    };
                    let route = route.with_service_share_at_most(ruling.raise.allowed);
                    table = table.with_route(route);
                    tracing::error!(
                        route = %ruling.raise.route,
                        file_service_percent = ruling.raise.asked,
                        service_percent = ruling.raise.allowed,
                        "route held at its earned service share: the file's flip is not earned; {} (earn it and reload, or set `force = true`)",
                        ruling.message
                    );
                    held.push(Hold {
                        route: ruling.raise.route.clone(),
                        file_service_percent: ruling.raise.asked,
                        service_percent: ruling.raise.allowed,
                        reason: ruling.message,
                    });
                }
            }
        }
        record_shares(
            &recorder,
            flip::shares_to_record(None, &accepted, &table),
            &table,
            "startup",
        )
        .await;
        let mut active = Active::new(table, loaded.upstreams.clone());
        active.held = held;
        active.rules_since = rules_since;
        self.active.store(Arc::new(active));
        let _ = self.results.set(recorder);
    }

    /// Re-reads the file and swaps the new table in if it is valid, allowed and different.
    ///
    /// `trigger` names the cause in logs and in [`ReloadFailure`].
    ///
    /// # Errors
    ///
    /// [`ReloadError`] when the file is unreadable or invalid, or raises a
    /// service share its shadow results do not allow; the table in force is kept.
    pub async fn reload(&self, trigger: &str) -> Result<ReloadOutcome, ReloadError> {
        let _serialised = self.reloading.lock().await;
        let current = self.current();
        let table = match RouteTable::load(&self.path) {
            Ok(table) => table,
            Err(err) => return Err(self.reject(trigger, err.into())),
        };
        let settings = match client_settings(&table, &self.path) {
            Ok(settings) => settings,
            Err(err) => return Err(self.reject(trigger, err.into())),
        };
        let recorder = self.results.get();
        let accepted = match recorder {
            Some(recorder) => accepted_shares(recorder).await,
            None => BTreeMap::new(),
        };
        if let Some(recorder) = recorder {
            let rulings = rule(
                recorder,
                Some(&current.table),
                &accepted,
                &table,
                &current.rules_since,
            )
            .await;
            let mut refused = Vec::new();
            for ruling in rulings {
                match ruling.decision {
                    Decision::Earned => {}
                    Decision::Forced => {
                        tracing::warn!(
                            trigger,
                            "flip forced by `force = true`: {}",
                            ruling.message
                        );
                    }
                    Decision::Refused => refused.push(format!(
                        "{} (set `force = true` on the route to flip anyway)",
                        ruling.message
                    )),
                }
            }
            if !refused.is_empty() {
                return Err(self.reject(trigger, ReloadError::Gated { problems: refused }));
            }
        }
        let version = table.version().to_owned();
        if version == current.table.version() && current.held.is_empty() {
            // The file is valid again (an operator reverted a bad edit): the old error is stale.
            if let Ok(mut stats) = self.stats.lock() {
                stats.last_error = None;
            }
            crate::metrics::record_reload("unchanged");
            return Ok(ReloadOutcome::Unchanged { version });
        }
        let upstreams = Upstreams {
            legacy: legacy_upstreams(settings, &current.upstreams.legacy),
            accounts: current.upstreams.accounts.clone(),
        };
        let mut active = Active::new(table, upstreams);
        if let Some(recorder) = recorder {
            active.rules_since = rule_epochs(
                recorder,
                &active.table,
                Some(&current.table),
                &current.rules_since,
            )
            .await;
            let changes = flip::shares_to_record(Some(&current.table), &accepted, &active.table);
            record_shares(recorder, changes, &active.table, trigger).await;
        }
        self.active.store(Arc::new(active));
        if let Ok(mut stats) = self.stats.lock() {
            stats.succeeded += 1;
            stats.last_error = None;
        }
        crate::metrics::record_reload("reloaded");
        crate::metrics::set_route_table(&version, Some(current.table.version()), unix_now());
        tracing::info!(trigger, from = current.table.version(), to = %version, "route table reloaded");
        Ok(ReloadOutcome::Reloaded { version })
    }
}

impl RouteState {
    /// Logs, counts and remembers a refused reload.
    fn reject(&self, trigger: &str, err: ReloadError) -> ReloadError {
        let problems: Vec<String> = err.to_string().lines().map(str::to_owned).collect();
        tracing::error!(trigger, problems = ?problems, "route table rejected; the previous table stays in force");
        crate::metrics::record_reload("rejected");
        if let Ok(mut stats) = self.stats.lock() {
            stats.failed += 1;
            stats.last_error = Some(ReloadFailure {
                at: Utc::now(),
                trigger: trigger.to_owned(),
                problems,
            });
        }
        err
    }
}

/// The service share the fleet accepted for each route, in percent; none
/// when they cannot be read (gating then fails closed).
async fn accepted_shares(recorder: &Recorder) -> BTreeMap<String, f64> {
    match recorder.store().earned_shares().await {
        Ok(shares) => shares
            .into_iter()
            .map(|(route, share)| (route, share.service_percent))
            .collect(),
        Err(err) => {
            tracing::warn!(error = %err, "could not read the accepted service shares for flip gating");
            BTreeMap::new()
        }
    }
}

/// Decides every raise of `new` over what is allowed, on the results in the routes' windows.
async fn rule(
    recorder: &Recorder,
    in_force: Option<&RouteTable>,
    accepted: &BTreeMap<String, f64>,
    new: &RouteTable,
    rules_since: &HashMap<String, DateTime<Utc>>,
) -> Vec<Ruling> {
    let mut rulings = Vec::new();
    for raise in flip::raises(in_force, accepted, new) {
        let Some(route) = new.routes().iter().find(|r| r.name() == raise.route) else {
            continue;
        };
        let require = route.require();
        let counts = match route_results(
            recorder,
            route.name(),
            &require,
            rules_since.get(route.name()).copied(),
        )
        .await
        {
            Ok(results) => results.counts,
            // Fail closed: without results, no flip can be shown to be earned.
            Err(err) => {
                tracing::warn!(error = %err, route = route.name(), "could not read shadow results for flip gating");
                Default::default()
            }
        };
        rulings.push(flip::decide(route, raise, &readiness(require, &counts)));
    }
    rulings
}

/// Since when each shadowed route of `table` has its comparison rules in force, fleet-wide.
///
/// Rules unchanged from `previous` keep their instant; others are looked up
/// (and recorded) in the database, `changed_here` on a reload. The recorder
/// starts a new count bucket at each instant.
async fn rule_epochs(
    recorder: &Recorder,
    table: &RouteTable,
    previous: Option<&RouteTable>,
    previous_since: &HashMap<String, DateTime<Utc>>,
) -> HashMap<String, DateTime<Utc>> {
    let mut epochs = HashMap::new();
    for route in table.routes() {
        let Some(shadow) = route.shadow() else {
            continue;
        };
        let fingerprint = shadow.fingerprint();
        let before = previous.map(|table| {
            table
                .routes()
                .iter()
                .find(|r| r.name() == route.name())
                .and_then(|r| r.shadow())
                .map(|s| s.fingerprint())
        });
        if before
            .as_ref()
            .is_some_and(|b| b.as_deref() == Some(fingerprint.as_str()))
            && let Some(since) = previous_since.get(route.name())
        {
            epochs.insert(route.name().to_owned(), *since);
            continue;
        }
        let at = now();
        let since = recorder
            .store()
            .rule_epoch(route.name(), &fingerprint, at, before.is_some())
            .await
            .unwrap_or_else(|err| {
                tracing::warn!(error = %err, route = route.name(), "could not record when the route's comparison rules changed; counting from now on this replica");
                at
            });
        recorder.restart(route.name(), since);
        epochs.insert(route.name().to_owned(), since);
    }
    epochs
}

/// Records `changes` (route, share) as accepted by this replica with `table`.
async fn record_shares(
    recorder: &Recorder,
    changes: Vec<(String, f64)>,
    table: &RouteTable,
    trigger: &str,
) {
    for (route, service_percent) in changes {
        let share = EarnedShare {
            service_percent,
            table_version: table.version().to_owned(),
            accepted_at: now(),
            trigger: trigger.to_owned(),
        };
        if let Err(err) = recorder.store().record_share(&route, &share).await {
            tracing::warn!(error = %err, route, "could not record the route's accepted service share for the fleet");
        }
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The clients for `settings`, reusing each of `current` whose settings
/// did not change: its pooled connections and its addresses' health stay.
fn legacy_upstreams(
    settings: Vec<ClientSettings>,
    current: &[LegacyUpstream],
) -> Arc<[LegacyUpstream]> {
    settings
        .iter()
        .map(|settings| {
            current
                .iter()
                .find(|upstream| upstream.settings() == settings)
                .cloned()
                .unwrap_or_else(|| LegacyUpstream::new(settings))
        })
        .collect()
}

/// Each legacy upstream's client settings, in the table's order; for an
/// `https` upstream this reads its `tls` files (relative to the routes
/// file's directory) once per address.
///
/// # Errors
///
/// A file that cannot be read or used, at its key's position in `path`.
pub fn client_settings(
    table: &RouteTable,
    path: &Path,
) -> Result<Vec<ClientSettings>, RouteTableError> {
    let base_dir = path.parent().unwrap_or_else(|| Path::new("."));
    let invalid = |problem| RouteTableError::Invalid {
        file: path.to_path_buf(),
        problems: vec![problem],
    };
    table
        .upstreams()
        .iter()
        .map(|upstream| {
            let addresses = upstream
                .urls()
                .iter()
                .map(|url| {
                    let tls = match url.scheme_str() {
                        Some("https") => Some(
                            TlsClient::new(
                                url.host().unwrap_or_default(),
                                upstream.tls(),
                                base_dir,
                            )
                            .map_err(invalid)?,
                        ),
                        _ => None,
                    };
                    Ok(AddressSettings {
                        url: url.clone(),
                        tls,
                    })
                })
                .collect::<Result<Vec<_>, RouteTableError>>()?;
            Ok(ClientSettings {
                name: upstream.name().to_owned(),
                addresses,
                connect_timeout: upstream.connect_timeout(),
                timeout: upstream.timeout(),
                balance: upstream.balance(),
                health: upstream.health(),
            })
        })
        .collect()
}

/// How long the watcher waits for a burst of file events to settle.
const DEBOUNCE: Duration = Duration::from_millis(200);

/// Whether an event of this kind can mean the routes file now reads differently.
///
/// Creates, data writes, renames, removes and a close after writing can; so
/// can kinds a backend does not name (`Any`, `Other`: better a reload that
/// finds the file unchanged than a missed edit). Opens, reads and closes
/// after reading cannot, nor can metadata changes (`touch`, `chmod`): were
/// they counted, every read of the file, the reload's own included, would
/// start another reload, forever.
fn may_change_content(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        EventKind::Modify(ModifyKind::Metadata(_)) => false,
        EventKind::Create(_)
        | EventKind::Modify(_)
        | EventKind::Remove(_)
        | EventKind::Any
        | EventKind::Other => true,
    }
}

/// Watches the directory holding the routes file and reloads on changes.
///
/// The directory is watched, not the file, so that editors' and Kubernetes
/// ConfigMaps' rename-into-place (`..data` symlink swaps) are seen. Only
/// events that can change what the file reads ([`may_change_content`]) on
/// the file's name or a `..`-name count, and a burst of them makes one
/// reload; reading the file (`cat`, `gateway check`, the reload itself)
/// makes none. The returned watcher must be kept alive.
///
/// # Errors
///
/// notify's error when the directory cannot be watched.
pub fn watch(state: Arc<RouteState>) -> notify::Result<notify::RecommendedWatcher> {
    let file_name = state.path.file_name().map(ToOwned::to_owned);
    let dir = match state.path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        let names_the_file = event.paths.iter().any(|p| {
            let name = p.file_name();
            name == file_name.as_deref()
                || name.is_some_and(|n| n.to_string_lossy().starts_with(".."))
        });
        // A rescan means events were lost: one of them may have been an edit.
        let relevant = event.need_rescan() || (names_the_file && may_change_content(&event.kind));
        if relevant {
            // A full channel already has a reload pending: nothing is lost.
            let _ = tx.try_send(());
        }
    })?;
    watcher.watch(&dir, RecursiveMode::NonRecursive)?;
    tokio::spawn(async move {
        while rx.recv().await.is_some() {
            tokio::time::sleep(DEBOUNCE).await;
            while rx.try_recv().is_ok() {}
            // Errors are logged and counted inside `reload`.
            let _ = state.reload("file-change").await;
        }
    });
    Ok(watcher)
}

/// Reloads on every SIGHUP, for as long as the process runs.
///
/// # Errors
///
/// The I/O error when the signal handler cannot be installed.
pub fn reload_on_sighup(state: Arc<RouteState>) -> std::io::Result<()> {
    let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            let _ = state.reload("sighup").await;
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use notify::event::{
        AccessKind, AccessMode, CreateKind, DataChange, EventKind, MetadataKind, ModifyKind,
        RemoveKind, RenameMode,
    };

    use super::may_change_content;

    #[test]
    fn only_events_that_can_change_the_content_start_a_reload() {
        let cases = [
            // Reading the file, as `cat`, `gateway check` or the reload itself do.
            (EventKind::Access(AccessKind::Open(AccessMode::Any)), false),
            (EventKind::Access(AccessKind::Read), false),
            (
                EventKind::Access(AccessKind::Close(AccessMode::Read)),
                false,
            ),
            (
                EventKind::Access(AccessKind::Close(AccessMode::Execute)),
                false,
            ),
            (EventKind::Access(AccessKind::Any), false),
            (EventKind::Access(AccessKind::Other), false),
            // `touch`, `chmod`, `chown`: the bytes stay.
            (
                EventKind::Modify(ModifyKind::Metadata(MetadataKind::Any)),
                false,
            ),
            (
                EventKind::Modify(ModifyKind::Metadata(MetadataKind::WriteTime)),
                false,
            ),
            (
                EventKind::Modify(ModifyKind::Metadata(MetadataKind::Permissions)),
                false,
            ),
            // Writing in place.
            (
                EventKind::Access(AccessKind::Close(AccessMode::Write)),
                true,
            ),
            (EventKind::Modify(ModifyKind::Data(DataChange::Any)), true),
            (
                EventKind::Modify(ModifyKind::Data(DataChange::Content)),
                true,
            ),
            (EventKind::Modify(ModifyKind::Any), true),
            // Rename into place (editors, `..data` symlink swaps), create, remove.
            (EventKind::Modify(ModifyKind::Name(RenameMode::To)), true),
            (EventKind::Modify(ModifyKind::Name(RenameMode::From)), true),
            (EventKind::Modify(ModifyKind::Name(RenameMode::Both)), true),
            (EventKind::Create(CreateKind::File), true),
            (EventKind::Create(CreateKind::Any), true),
            (EventKind::Remove(RemoveKind::File), true),
            (EventKind::Remove(RemoveKind::Folder), true),
            // What a backend does not classify may be an edit.
            (EventKind::Any, true),
            (EventKind::Other, true),
        ];
        for (kind, reloads) in cases {
            assert_eq!(may_change_content(&kind), reloads, "{kind:?}");
        }
    }
}
