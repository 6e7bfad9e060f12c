//! `gateway`: serve, check a routes file, or show a running gateway's status.

use std::process::ExitCode;

use clap::Parser;
use gateway::cli::{Cli, Command};
use gateway::{app, telemetry};

fn main() -> ExitCode {
    // A `.env` file, when present, only fills variables that are not already set.
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    // Flushes queued spans when `main` returns, after the runtime has stopped.
    let _telemetry = telemetry::init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("gateway: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            None => app::serve(&cli.serve).await.map(|()| None),
            Some(Command::Serve(args)) => app::serve(&args).await.map(|()| None),
            Some(Command::Check { file, config }) => app::check(file, config).map(Some),
            Some(Command::Status { admin_url, config }) => {
                app::status(admin_url, config).await.map(Some)
            }
        }
    });
    match result {
        Ok(output) => {
            if let Some(output) = output {
                println!("{}", output.trim_end());
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("gateway: {err:#}");
            ExitCode::FAILURE
        }
    }
}
