//! `import-users`: the backfill of users from a legacy export (JSON Lines or CSV).
//!
//! What MUST hold:
//! - **Legacy ids and timestamps are kept** (timestamps as UTC instants, to
//!   the microsecond); every row is checked with the accounts domain's own
//!   rules (`accounts::domain`), as the service would check it.
//! - **Idempotent**: a row equal to its stored user is `unchanged` and not
//!   written; a second run of the same file changes nothing.
//! - **Nothing silently lost**: every row read is counted exactly once as
//!   inserted, updated, unchanged or rejected, and every rejected row is in
//!   the rejects file with its line, its reasons and its raw text.
//! - **Batches**: one transaction per batch; a failure stops the run with the
//!   earlier batches committed, and running again resumes safely.
//!
//! Batches are 20 000 rows by default (statements of at most 4000): with
//! random legacy ids each batch touches most pages of the id index, and
//! SQLite writes every page a transaction touched to its WAL again, so
//! fewer, larger transactions write far less (measured: 1M rows in 15 s
//! instead of 40 s on SQLite, 10 s instead of 15 s on PostgreSQL).
//!
//! Two threads share the work: one reads and validates, the other applies
//! the in-file rule (the first row with an id or address wins, checked
//! against an index on disk, [`seen`]) and writes batches ([`store`]), so
//! parsing overlaps the database's work.
//!
//! **Bounded memory**: nothing grows with the file's size. The reader holds
//! two batches at most (a channel of two), the duplicate index lives on disk
//! with an 8 MiB page cache, and the target SQLite's page cache is capped at
//! 64 MiB. Measured (debug build, SQLite): 189 MiB peak RSS for 1M rows, 205
//! MiB for 2M (`tests/bench/import.sh`).

mod rejects;
mod seen;
mod source;
mod store;
mod validate;

use std::fmt;
use std::fs::File;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use indicatif::{ProgressBar, ProgressStyle};
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection};
use serde::Serialize;
use tokio::sync::mpsc;

use self::rejects::RejectsFile;
use self::seen::Seen;
use self::source::{CsvRows, JsonLines, Rows, SourceError};
use self::validate::{Record, validate};

/// The layout of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// One JSON object per line (`.jsonl`, `.ndjson`).
    Jsonl,
    /// Comma-separated, with a header row naming the columns (`.csv`).
    Csv,
}

impl Format {
    /// The format a file name's extension says, if it says one.
    fn of(path: &Path) -> Option<Self> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "jsonl" | "ndjson" => Some(Self::Jsonl),
            "csv" => Some(Self::Csv),
            _ => None,
        }
    }
}

/// What to import, and how.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// The export.
    pub(crate) file: PathBuf,
    /// Its format; `None` to go by the extension.
    pub(crate) format: Option<Format>,
    /// Where rejected rows go; `None` for `FILE.rejected.jsonl`.
    pub(crate) rejects: Option<PathBuf>,
    /// Rows per transaction.
    pub(crate) batch_size: usize,
}

/// What an import did.
#[derive(Debug, Clone, Default)]
pub(crate) struct Summary {
    pub(crate) read: u64,
    pub(crate) inserted: u64,
    pub(crate) updated: u64,
    pub(crate) unchanged: u64,
    pub(crate) rejected: u64,
    pub(crate) elapsed: Duration,
    /// The rejects file, when a row was rejected.
    pub(crate) rejects_file: Option<PathBuf>,
}

impl Summary {
    fn counts(&self) -> String {
        format!(
            "read={} inserted={} updated={} unchanged={} rejected={}",
            self.read, self.inserted, self.updated, self.unchanged, self.rejected
        )
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} elapsed={:.2}s",
            self.counts(),
            self.elapsed.as_secs_f64()
        )
    }
}

/// A row that passed validation and the in-file rule, on its way to the database.
#[derive(Debug)]
struct Candidate {
    line: u64,
    raw: String,
    record: Record,
}

/// A row that is not imported, as the rejects file records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct Reject {
    line: u64,
    reasons: Vec<String>,
    raw: String,
}

/// What the reader hands the writer.
#[derive(Debug, Default)]
struct Batch {
    candidates: Vec<Candidate>,
    rejects: Vec<Reject>,
    /// Bytes of the file read up to the end of this batch.
    bytes_read: u64,
}

/// Imports `options.file` into the database at `database_url`, applying pending migrations first.
///
/// Shows a progress bar on stderr when stderr is a terminal.
///
/// # Errors
///
/// When the file, the rejects file or the database fails (not for bad
/// rows: those are counted and written to the rejects file).
pub(crate) async fn run(database_url: &str, options: Options) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let Some(format) = options.format.or_else(|| Format::of(&options.file)) else {
        bail!(
            "cannot tell the format of {} from its extension (.jsonl, .ndjson, .csv); pass --format",
            options.file.display()
        );
    };
    let file = File::open(&options.file)
        .with_context(|| format!("cannot open {}", options.file.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let rows = match format {
        Format::Jsonl => Rows::Jsonl(JsonLines::new(file)),
        Format::Csv => Rows::Csv(
            CsvRows::new(file).with_context(|| format!("reading {}", options.file.display()))?,
        ),
    };
    let rejects_path = options
        .rejects
        .clone()
        .unwrap_or_else(|| default_rejects_path(&options.file));
    let db = connect(database_url).await?;
    let mut rejects = RejectsFile::create(&rejects_path)
        .with_context(|| format!("cannot create {}", rejects_path.display()))?;

    let bar = progress_bar(size);
    let (sender, mut receiver) = mpsc::channel(2);
    let batch_size = options.batch_size.max(1);
    let reader = std::thread::Builder::new()
        .name("import-reader".to_owned())
        .spawn(move || read_batches(rows, batch_size, &sender))
        .context("starting the reader thread")?;

    let mut summary = Summary::default();
    let written = match store::Mode::for_table(&db).await {
        Ok(mut mode) => {
            write_batches(
                &db,
                &mut receiver,
                &mut mode,
                &mut rejects,
                &mut summary,
                &bar,
            )
            .await
        }
        Err(err) => Err(err).context("reading the users table"),
    };
    // Closing the channel stops the reader if the writer gave up early.
    drop(receiver);
    let read = reader
        .join()
        .map_err(|_| anyhow!("the reader thread panicked"));
    bar.finish_and_clear();
    let in_rejects_file = rejects.finish();
    let analyzed = if written.is_ok() && summary.inserted + summary.updated > 0 {
        store::refresh_statistics(&db).await
    } else {
        Ok(())
    };
    let closed = db.close().await;

    let stopped = || format!("import stopped after {}", summary.counts());
    written.with_context(stopped)?;
    read?
        .with_context(|| format!("reading {}", options.file.display()))
        .with_context(stopped)?;
    let in_rejects_file =
        in_rejects_file.with_context(|| format!("writing {}", rejects_path.display()))?;
    analyzed.context("refreshing the planner statistics of users")?;
    closed.context("closing the database connection")?;
    debug_assert_eq!(in_rejects_file, summary.rejected);
    summary.elapsed = started.elapsed();
    summary.rejects_file = (summary.rejected > 0).then_some(rejects_path);
    Ok(summary)
}

/// `FILE.rejected.jsonl`, beside the export.
fn default_rejects_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".rejected.jsonl");
    PathBuf::from(name)
}

/// Applies pending migrations, then opens one connection tuned for bulk writes.
///
/// SQLite: WAL with `synchronous=NORMAL` (a power loss may lose the last
/// committed batches, which a rerun restores), a 64 MiB page cache (a bound on
/// the import's memory: a 256 MiB one took 342 MiB at 1M rows and 430 MiB at
/// 2M, for a third less time), and a
/// busy timeout for a gateway using the same file.
async fn connect(url: &str) -> anyhow::Result<DatabaseConnection> {
    let schema = migration::connect(url)
        .await
        .context("connecting to the database")?;
    let pending = Migrator::get_pending_migrations(&schema)
        .await
        .context("reading the applied migrations")?
        .len();
    if pending > 0 {
        Migrator::up(&schema, None)
            .await
            .context("applying pending migrations")?;
        eprintln!("applied {pending} pending migration(s) first");
    }
    schema.close().await.context("closing the database")?;

    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(1)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|opts| {
            opts.pragma("journal_mode", "WAL")
                .pragma("synchronous", "NORMAL")
                .pragma("cache_size", "-65536")
                .busy_timeout(Duration::from_secs(5))
        });
    Database::connect(options)
        .await
        .context("connecting to the database")
}

fn progress_bar(total_bytes: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template(
        "{spinner} {elapsed_precise} [{wide_bar}] {bytes}/{total_bytes} eta {eta} {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    let bar = ProgressBar::new(total_bytes).with_style(style);
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// The reader thread: rows → validated candidates and rejects, in batches of
/// `batch_size` rows (the writer applies the in-file duplicate rule, [`seen`]).
fn read_batches<R: Read>(
    mut rows: Rows<R>,
    batch_size: usize,
    sender: &mpsc::Sender<Batch>,
) -> Result<(), SourceError> {
    let mut batch = Batch::default();
    while let Some(row) = rows.next_row()? {
        let line = row.line;
        let admitted = row
            .fields
            .map_err(|malformed| vec![malformed])
            .and_then(validate);
        match admitted {
            Ok(record) => batch.candidates.push(Candidate {
                line,
                raw: row.raw,
                record,
            }),
            Err(reasons) => batch.rejects.push(Reject {
                line,
                reasons,
                raw: row.raw,
            }),
        }
        if batch.candidates.len() + batch.rejects.len() >= batch_size {
            batch.bytes_read = rows.bytes_read();
            if sender.blocking_send(std::mem::take(&mut batch)).is_err() {
                // The writer stopped; it reports why.
                return Ok(());
            }
        }
    }
    batch.bytes_read = rows.bytes_read();
    if !batch.candidates.is_empty() || !batch.rejects.is_empty() {
        // An error means the writer stopped; it reports why.
        let _ = sender.blocking_send(batch);
    }
    Ok(())
}

/// The writer: each batch to the database, its rejects to the file, in line order.
async fn write_batches(
    db: &DatabaseConnection,
    receiver: &mut mpsc::Receiver<Batch>,
    mode: &mut store::Mode,
    rejects: &mut RejectsFile,
    summary: &mut Summary,
    bar: &ProgressBar,
) -> anyhow::Result<()> {
    let seen = Seen::open()
        .await
        .context("creating the index of the ids and addresses seen")?;
    while let Some(batch) = receiver.recv().await {
        let Batch {
            candidates,
            rejects: mut batch_rejects,
            bytes_read,
        } = batch;
        let read = (candidates.len() + batch_rejects.len()) as u64;
        let (candidates, duplicates) = seen
            .admit(candidates)
            .await
            .context("checking the rows against the earlier ones")?;
        batch_rejects.extend(duplicates);
        let written = match store::write_batch(db, candidates, mode).await {
            Ok(written) => written,
            Err(err) => {
                // Keep what the reader already judged; the batch itself is rolled back.
                for reject in &batch_rejects {
                    rejects.write(reject).context("writing the rejects file")?;
                }
                return Err(err).context("writing a batch to the database");
            }
        };
        batch_rejects.extend(written.rejects);
        batch_rejects.sort_by_key(|reject| reject.line);
        for reject in &batch_rejects {
            rejects.write(reject).context("writing the rejects file")?;
        }
        summary.read += read;
        summary.inserted += written.inserted;
        summary.updated += written.updated;
        summary.unchanged += written.unchanged;
        summary.rejected += batch_rejects.len() as u64;
        bar.set_position(bytes_read);
        bar.set_message(summary.counts());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_follows_the_extension() {
        let cases = [
            ("users.jsonl", Some(Format::Jsonl)),
            ("a/b/USERS.NDJSON", Some(Format::Jsonl)),
            ("users.csv", Some(Format::Csv)),
            ("users.json", None),
            ("users", None),
        ];
        for (name, expected) in cases {
            assert_eq!(Format::of(Path::new(name)), expected, "{name}");
        }
    }

    #[test]
    fn rejects_go_beside_the_file_by_default() {
        assert_eq!(
            default_rejects_path(Path::new("/data/users.csv")),
            Path::new("/data/users.csv.rejected.jsonl")
        );
    }

    #[test]
    fn the_summary_is_one_line_of_counts_and_elapsed() {
        let summary = Summary {
            read: 5,
            inserted: 1,
            updated: 2,
            unchanged: 1,
            rejected: 1,
            elapsed: Duration::from_millis(1500),
            rejects_file: None,
        };
        assert_eq!(
            summary.to_string(),
            "read=5 inserted=1 updated=2 unchanged=1 rejected=1 elapsed=1.50s"
        );
    }
}
