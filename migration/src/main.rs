//! `migration`: apply, roll back and inspect the database schema; backfill users from legacy.

mod import;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use migration::{Migrator, MigratorTrait};

/// Exit status of `import-users`: every row was imported or unchanged.
const IMPORTED: u8 = 0;
/// Exit status of `import-users`: the file was processed, but some rows were rejected.
const IMPORTED_WITH_REJECTS: u8 = 3;

const IMPORT_EXIT_STATUS: &str = "\
Exit status:
  0  every row was inserted, updated or unchanged
  3  the file was processed; some rows were rejected (see the rejects file)
  1  failure: the file, the rejects file or the database (batches committed
     before the failure stay; running again is safe)
  2  bad command line";

/// Applies, rolls back and lists the schema migrations; imports users from legacy.
#[derive(Debug, Parser)]
#[command(name = "migration", version, about)]
struct Cli {
    /// Database URL (SeaORM form); the default is the gateway's embedded SQLite file.
    #[arg(
        long,
        short = 'u',
        env = "DATABASE_URL",
        default_value = "sqlite://data/project-alpha.sqlite?mode=rwc",
        global = true,
        hide_env_values = true
    )]
    database_url: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply pending migrations (all, or the next N).
    Up {
        /// How many to apply.
        #[arg(short, long)]
        num: Option<u32>,
    },
    /// Roll back the last N applied migrations (default 1).
    Down {
        /// How many to roll back.
        #[arg(short, long, default_value_t = 1)]
        num: u32,
    },
    /// List every migration and whether it is applied.
    Status,
    /// Backfill users from a legacy export (JSON Lines or CSV), idempotently.
    ///
    /// Each row has the fields id, email, full_name, is_active, created_at,
    /// updated_at (RFC 3339 timestamps; is_active true or false) and is checked
    /// with the accounts service's own rules. Legacy ids and timestamps are
    /// kept (to the microsecond); an updated_at before created_at becomes
    /// created_at, as the service's domain makes it. Rows are upserted by id in
    /// batches, one transaction each: a row equal to the stored user is left
    /// alone, so running the same file again changes nothing.
    ///
    /// Rejected, each with its reasons: malformed rows, invalid fields, a row
    /// repeating the id or the address (ignoring case) of an earlier row in
    /// the file (the first one wins), and an address another user (another
    /// id) holds in the database. They are written to the rejects file as JSON
    /// lines {"line", "reasons", "raw"}; it is removed when nothing is rejected.
    ///
    /// Pending migrations are applied first. A progress bar is shown when
    /// stderr is a terminal; the summary line goes to stdout:
    /// read=N inserted=N updated=N unchanged=N rejected=N elapsed=S.
    #[command(after_help = IMPORT_EXIT_STATUS)]
    ImportUsers {
        /// The export: .jsonl or .ndjson (one JSON object per line), or .csv (with a header row).
        file: PathBuf,
        /// The format, when the file's extension does not say it.
        #[arg(long, value_enum)]
        format: Option<import::Format>,
        /// Where rejected rows are written [default: FILE.rejected.jsonl].
        #[arg(long, value_name = "PATH")]
        rejects: Option<PathBuf>,
        /// Rows per batch (and per transaction).
        #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        batch_size: u32,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let Cli {
        database_url,
        command,
    } = Cli::parse();
    run(&database_url, command).await.unwrap_or_else(|err| {
        eprintln!("migration: {err}");
        for cause in err.chain().skip(1) {
            eprintln!("  caused by: {cause}");
        }
        ExitCode::FAILURE
    })
}

async fn run(database_url: &str, command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Up { num } => {
            let db = migration::connect(database_url).await?;
            Migrator::up(&db, num).await?;
            println!("up to date");
            db.close().await?;
        }
        Command::Down { num } => {
            let db = migration::connect(database_url).await?;
            Migrator::down(&db, Some(num)).await?;
            println!("rolled back {num} migration(s)");
            db.close().await?;
        }
        Command::Status => {
            let db = migration::connect(database_url).await?;
            for m in Migrator::get_migration_with_status(&db).await? {
                println!(
                    "{:<8} {}",
                    format!("{:?}", m.status()).to_lowercase(),
                    m.name()
                );
            }
            db.close().await?;
        }
        Command::ImportUsers {
            file,
            format,
            rejects,
            batch_size,
        } => {
            let options = import::Options {
                file,
                format,
                rejects,
                batch_size: usize::try_from(batch_size).unwrap_or(usize::MAX),
            };
            return import_users(database_url, options).await;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn import_users(database_url: &str, options: import::Options) -> anyhow::Result<ExitCode> {
    let summary = import::run(database_url, options).await?;
    println!("{summary}");
    Ok(match &summary.rejects_file {
        Some(path) => {
            eprintln!(
                "{} row(s) rejected, with their reasons, in {}",
                summary.rejected,
                path.display()
            );
            ExitCode::from(IMPORTED_WITH_REJECTS)
        }
        None => ExitCode::from(IMPORTED),
    })
}
