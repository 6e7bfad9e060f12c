//! `migration`: apply, roll back and inspect the database schema.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use migration::{Migrator, MigratorTrait};

/// Applies, rolls back and lists the schema migrations.
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
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("migration: {err}");
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), migration::MigrateError> {
    let db = migration::connect(&cli.database_url).await?;
    match cli.command {
        Command::Up { num } => {
            Migrator::up(&db, num).await?;
            println!("up to date");
        }
        Command::Down { num } => {
            Migrator::down(&db, Some(num)).await?;
            println!("rolled back {num} migration(s)");
        }
        Command::Status => {
            for m in Migrator::get_migration_with_status(&db).await? {
                println!(
                    "{:<8} {}",
                    format!("{:?}", m.status()).to_lowercase(),
                    m.name()
                );
            }
        }
    }
    db.close().await?;
    Ok(())
}
