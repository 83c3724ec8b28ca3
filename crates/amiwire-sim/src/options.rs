//! The simulator's command-line options, one parser for the `amiwire-sim` binary and
//! `amiwire sim` (clap; [`SimOptions`] is flattened into each command).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::accounts::Accounts;
use crate::dialplan::Dialplan;
use crate::server::SimConfig;

/// The options that make a [`SimConfig`].
#[derive(Clone, Debug, clap::Args)]
pub struct SimOptions {
    /// Where to listen (port 0 picks a free one)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:5038")]
    pub listen: SocketAddr,
    /// Accounts in manager.conf format [default: the built-in admin/amp111, c2call, limited,
    /// filtered]
    #[arg(long, value_name = "FILE")]
    pub accounts: Option<PathBuf>,
    /// Dialplan in extensions.conf format [default: the built-in [test] context]
    #[arg(long, value_name = "FILE")]
    pub dialplan: Option<PathBuf>,
    /// Queues in queues.conf format [default: the built-in queue 'support']
    #[arg(long, value_name = "FILE")]
    pub queues: Option<PathBuf>,
    /// Also serve AMI over HTTP (/rawman, /mxml, /manager; /arawman, /amxml, /amanager with Digest) here
    #[arg(long, value_name = "ADDR")]
    pub http: Option<SocketAddr>,
    /// Close unauthenticated connections after this many seconds
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub auth_timeout: u64,
    /// Seed the simulator's random source (challenges, nonces, cookies, bridge ids,
    /// ${RAND()}) [default: from the clock]
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
}

/// A configuration file named by the options that cannot be used.
#[derive(Debug)]
pub enum OptionsError {
    /// It cannot be read.
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// It is not valid.
    Parse {
        /// The file.
        path: PathBuf,
        /// Why (the parser's message, with the line).
        message: String,
    },
}

impl SimOptions {
    /// The configuration: the defaults of [`SimConfig`], with the files read and parsed.
    pub fn config(&self) -> Result<SimConfig, OptionsError> {
        let mut cfg = SimConfig {
            listen: self.listen,
            http_listen: self.http,
            auth_timeout: Duration::from_secs(self.auth_timeout),
            seed: self.seed,
            ..SimConfig::default()
        };
        if let Some(p) = &self.accounts {
            cfg.accounts = parse(p, |t| Accounts::parse(t).map_err(|e| e.to_string()))?;
        }
        if let Some(p) = &self.dialplan {
            cfg.dialplan = parse(p, |t| Dialplan::parse(t).map_err(|e| e.to_string()))?;
        }
        if let Some(p) = &self.queues {
            cfg.queues_conf = read(p)?;
        }
        Ok(cfg)
    }
}

fn read(path: &std::path::Path) -> Result<String, OptionsError> {
    std::fs::read_to_string(path).map_err(|error| OptionsError::Read {
        path: path.to_owned(),
        error,
    })
}

fn parse<T>(
    path: &std::path::Path,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<T, OptionsError> {
    parse(&read(path)?).map_err(|message| OptionsError::Parse {
        path: path.to_owned(),
        message,
    })
}
