//! `gateway`: serve, check a routes file, or show a running gateway's status.

use std::process::ExitCode;

use clap::Parser;
use gateway::cli::{Cli, Command};
use gateway::telemetry::ErrorChain;
use gateway::{app, telemetry};

fn main() -> ExitCode {
    // A `.env` file, when present, only fills variables that are not already set.
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    // Flushes queued spans when `main` returns, after the runtime has stopped.
    // Installed before anything can fail, so that `serve` logs its last error.
    let _telemetry = telemetry::init();
    // `check` and `status` are command-line tools whose stderr is read by
    // people and scripts; `serve` is a service whose stderr is its log.
    let serving = matches!(cli.command, None | Some(Command::Serve(_)));
    let result = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(async {
            match cli.command {
                None => app::serve(&cli.serve).await.map(|()| None),
                Some(Command::Serve(args)) => app::serve(&args).await.map(|()| None),
                Some(Command::Check { file, config }) => app::check(file, config).map(Some),
                Some(Command::Status { admin_url, config }) => {
                    app::status(admin_url, config).await.map(Some)
                }
            }
        }),
        Err(err) => Err(anyhow::Error::new(err).context("cannot start the async runtime")),
    };
    match result {
        Ok(output) => {
            if let Some(output) = output {
                println!("{}", output.trim_end());
            }
            ExitCode::SUCCESS
        }
        Err(err) if serving => {
            // The log writes to stderr unbuffered: the event is out before the process exits.
            tracing::error!(error = %ErrorChain(err.as_ref()), "the gateway stopped on an error");
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("gateway: {err:#}");
            ExitCode::FAILURE
        }
    }
}
