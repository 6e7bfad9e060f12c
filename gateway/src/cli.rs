//! The command line (a contract: scripts and operators depend on it).
//!
//! ```text
//! gateway [serve] [--config FILE] [--routes FILE] [--listen ADDR] [--admin-listen ADDR]
//! gateway check [FILE]
//! gateway status [--admin-url URL]
//! gateway health [--admin-url URL] [--ready]
//! gateway replay --route NAME [--since DURATION] [--limit N] [--admin-url URL]
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::config::Overrides;

/// The strangler-fig gateway: routes each request to the legacy backend or the new service.
#[derive(Debug, Parser)]
#[command(
    name = "gateway",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// Options for `serve`, which runs when no command is given.
    #[command(flatten)]
    pub serve: ServeArgs,
    /// What to do; `serve` when absent.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve clients and the admin API (the default).
    Serve(ServeArgs),
    /// Validate a routes file and exit non-zero with every problem (like `nginx -t`).
    Check {
        /// The file to check [default: the routes file of the settings, ./routes.toml]
        file: Option<PathBuf>,
        /// Settings file, to find the routes file when FILE is not given.
        #[arg(long, env = "GATEWAY_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Print the route table in force on a running gateway, as a table.
    Status {
        /// The admin API's base URL [default: http://ADMIN_LISTEN of the settings]
        #[arg(long, env = "GATEWAY_ADMIN_URL")]
        admin_url: Option<String>,
        /// Settings file, to find the admin address when --admin-url is not given.
        #[arg(long, env = "GATEWAY_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Probe a running gateway's admin API (`/-/healthz`, or `/-/readyz`
    /// with --ready) and exit 0 when it answers 200: a container health
    /// check that needs no curl.
    Health {
        /// The admin API's base URL [default: http://ADMIN_LISTEN of the settings]
        #[arg(long, env = "GATEWAY_ADMIN_URL")]
        admin_url: Option<String>,
        /// Probe readiness instead of liveness.
        #[arg(long)]
        ready: bool,
        /// Settings file, to find the admin address when --admin-url is not given.
        #[arg(long, env = "GATEWAY_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Resend a route's recorded mismatches to both sides now, and report what is fixed.
    ///
    /// Only GET, HEAD and OPTIONS are resent; replays are not counted as shadow results.
    Replay {
        /// The route whose mismatches to replay.
        #[arg(long)]
        route: String,
        /// Only mismatches recorded in the last DURATION (e.g. 30m, 2h) [default: all kept]
        #[arg(long, value_parser = humantime::parse_duration)]
        since: Option<Duration>,
        /// At most N mismatches, newest first (1 to 500) [default: 50]
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=500))]
        limit: Option<u64>,
        /// The admin API's base URL [default: http://ADMIN_LISTEN of the settings]
        #[arg(long, env = "GATEWAY_ADMIN_URL")]
        admin_url: Option<String>,
        /// Settings file, to find the admin address when --admin-url is not given.
        #[arg(long, env = "GATEWAY_CONFIG")]
        config: Option<PathBuf>,
    },
}

/// Options of `serve`.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// Settings file [default: ./gateway.toml when it exists]
    #[arg(long, env = "GATEWAY_CONFIG")]
    pub config: Option<PathBuf>,
    /// The route table [default: ./routes.toml]
    #[arg(long, env = "GATEWAY_ROUTES")]
    pub routes: Option<PathBuf>,
    /// Address for clients; port 0 picks a free port [default: 0.0.0.0:8080]
    #[arg(long, env = "GATEWAY_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Address for the admin API; beyond loopback it needs GATEWAY_ADMIN_TOKEN [default: 127.0.0.1:9901]
    #[arg(long, env = "GATEWAY_ADMIN_LISTEN")]
    pub admin_listen: Option<SocketAddr>,
}

impl ServeArgs {
    /// The values that override every other settings source.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            listen: self.listen,
            admin_listen: self.admin_listen,
            routes: self.routes.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_contract_parses() {
        let cli = Cli::try_parse_from(["gateway", "--listen", "127.0.0.1:0", "--routes", "r.toml"])
            .unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.serve.listen, Some("127.0.0.1:0".parse().unwrap()));

        let cli = Cli::try_parse_from([
            "gateway",
            "serve",
            "--admin-listen",
            "127.0.0.1:9",
            "--config",
            "g.toml",
        ])
        .unwrap();
        let Some(Command::Serve(args)) = cli.command else {
            panic!("serve expected")
        };
        assert_eq!(args.admin_listen, Some("127.0.0.1:9".parse().unwrap()));
        assert_eq!(args.config, Some(PathBuf::from("g.toml")));

        let cli = Cli::try_parse_from(["gateway", "check", "other.toml"]).unwrap();
        assert!(
            matches!(cli.command, Some(Command::Check { file: Some(f), .. }) if f.as_path() == std::path::Path::new("other.toml"))
        );
        let cli = Cli::try_parse_from(["gateway", "check"]).unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Check { file: None, .. })
        ));
        assert!(matches!(
            Cli::try_parse_from(["gateway", "status"]).unwrap().command,
            Some(Command::Status { .. })
        ));

        assert!(matches!(
            Cli::try_parse_from(["gateway", "health", "--ready"])
                .unwrap()
                .command,
            Some(Command::Health { ready: true, .. })
        ));
        let cli = Cli::try_parse_from([
            "gateway", "replay", "--route", "users", "--since", "90m", "--limit", "20",
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Replay { route, since: Some(since), limit: Some(20), .. })
                if route == "users" && since == Duration::from_secs(5400)
        ));
        assert!(Cli::try_parse_from(["gateway", "replay"]).is_err());
        assert!(
            Cli::try_parse_from(["gateway", "replay", "--route", "r", "--limit", "0"]).is_err()
        );
        assert!(
            Cli::try_parse_from(["gateway", "replay", "--route", "r", "--since", "soon"]).is_err()
        );

        assert!(Cli::try_parse_from(["gateway", "--listen", "not-an-address"]).is_err());
    }
}
