//! Connection settings: flags, then environment, then a config file, then defaults; the
//! secret is prompted for when none is given.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use amiwire::Credentials;
use amiwire_tokio::{ClientConfig, EventMask, TlsConfig};
use clap::Args;

use crate::Failure;

/// How to reach and log in to the Asterisk server.
#[derive(Debug, Args, Clone, Default)]
pub(crate) struct ConnArgs {
    /// Asterisk host
    #[arg(long, short = 'H', env = "AMI_HOST", global = true)]
    pub host: Option<String>,
    /// AMI port [default: 5038, or 5039 with TLS]
    #[arg(long, short = 'P', env = "AMI_PORT", global = true)]
    pub port: Option<u16>,
    /// AMI over HTTP instead of --host/--port: http://HOST:PORT/PATH or https://… (the port
    /// may be left out: 8088, or 8089 for https). PATH is rawman (AMI text), mxml (XML) or manager (HTML), logged in
    /// with a Login action and a cookie session; or arawman, amxml, amanager, with HTTP
    /// Digest. http.conf's prefix goes before it (/asterisk/rawman). Events come by WaitEvent
    /// polls. No user or password in the URL.
    #[arg(long, env = "AMI_URL", value_name = "URL", global = true)]
    pub url: Option<String>,
    /// manager.conf user
    #[arg(long, short = 'u', env = "AMI_USERNAME", global = true)]
    pub username: Option<String>,
    /// Its secret (prefer AMI_SECRET, the config file or the prompt: a flag shows in `ps`)
    #[arg(long, env = "AMI_SECRET", hide_env_values = true, global = true)]
    pub secret: Option<String>,
    /// Log in with the MD5 challenge (the secret never crosses the wire)
    #[arg(long, global = true)]
    pub md5: bool,
    /// Connect over TLS, trusting the system's certificate authorities
    #[arg(long, env = "AMI_TLS", global = true)]
    pub tls: bool,
    /// Connect over TLS, trusting the CA certificates of this PEM file
    #[arg(long, env = "AMI_TLS_CA", value_name = "PEM", global = true)]
    pub tls_ca: Option<PathBuf>,
    /// The name the server's certificate must carry, when it is not the host
    #[arg(long, env = "AMI_TLS_SERVER_NAME", value_name = "NAME", global = true)]
    pub tls_server_name: Option<String>,
    /// A settings file of `key = value` lines (host, port, url, username, secret, md5, tls,
    /// tls_ca, tls_server_name, timeout)
    #[arg(long, env = "AMI_CONFIG", value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Seconds to wait for the connection, the login, and each action's result
    #[arg(long, env = "AMI_TIMEOUT", value_name = "SECS", global = true)]
    pub timeout: Option<f64>,
}

fn parse_bool(key: &str, v: &str) -> Result<bool, Failure> {
    match v.to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" | "1" => Ok(true),
        "no" | "false" | "off" | "0" => Ok(false),
        _ => Err(Failure::usage(format!("{key} = {v}: expected yes or no"))),
    }
}

impl ConnArgs {
    /// Fills what flags and environment left unset from the config file.
    fn merge_file(&mut self, path: &Path) -> Result<(), Failure> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                return Err(Failure::usage(format!(
                    "{}:{}: expected key = value",
                    path.display(),
                    n + 1
                )));
            };
            let (k, v) = (k.trim(), v.trim());
            let bad =
                |what: &str| Failure::usage(format!("{}:{}: {k}: {what}", path.display(), n + 1));
            match k {
                "host" => {
                    self.host.get_or_insert_with(|| v.to_owned());
                }
                "port" => {
                    let p = v.parse().map_err(|_| bad("not a port number"))?;
                    self.port.get_or_insert(p);
                }
                "url" => {
                    self.url.get_or_insert_with(|| v.to_owned());
                }
                "username" => {
                    self.username.get_or_insert_with(|| v.to_owned());
                }
                "secret" => {
                    self.secret.get_or_insert_with(|| v.to_owned());
                }
                "md5" => self.md5 |= parse_bool(k, v)?,
                "tls" => self.tls |= parse_bool(k, v)?,
                "tls_ca" => {
                    self.tls_ca.get_or_insert_with(|| PathBuf::from(v));
                }
                "tls_server_name" => {
                    self.tls_server_name.get_or_insert_with(|| v.to_owned());
                }
                "timeout" => {
                    let t = v.parse().map_err(|_| bad("not a number of seconds"))?;
                    self.timeout.get_or_insert(t);
                }
                _ => return Err(bad("unknown setting")),
            }
        }
        Ok(())
    }

    /// The client settings; prompts for the secret on a terminal when none was given.
    pub(crate) fn client_config(&self, events: Option<EventMask>) -> Result<ClientConfig, Failure> {
        let mut a = self.clone();
        if let Some(path) = self.config.clone() {
            a.merge_file(&path)?;
        }
        if a.url.is_some() && (a.host.is_some() || a.port.is_some()) {
            return Err(Failure::usage(
                "--url and --host/--port exclude each other (from flags, environment or the config file): the URL names the host and port",
            ));
        }
        let https = a.url.as_deref().is_some_and(|u| {
            u.get(..8)
                .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
        });
        if a.url.is_some() && !https && (a.tls || a.tls_ca.is_some() || a.tls_server_name.is_some())
        {
            return Err(Failure::usage(
                "--tls, --tls-ca and --tls-server-name need an https:// URL with --url",
            ));
        }
        let tls = a.tls || a.tls_ca.is_some() || https;
        let host = match &a.url {
            // For the secret's prompt only: the URL's host.
            Some(_) => "the URL's host".to_owned(),
            None => a.host.unwrap_or_else(|| "127.0.0.1".to_owned()),
        };
        let port = a.port.unwrap_or(if tls { 5039 } else { 5038 });
        let username = a.username.ok_or_else(|| {
            Failure::usage("no username: use --username, AMI_USERNAME or the config file")
        })?;
        let secret =
            match a.secret {
                Some(s) => s,
                None if std::io::stdin().is_terminal() => {
                    rpassword::prompt_password(format!("AMI secret for {username}@{host}: "))
                        .map_err(|e| Failure::usage(format!("cannot read the secret: {e}")))?
                }
                None => return Err(Failure::usage(
                    "no secret: use AMI_SECRET, the config file, or run on a terminal to be asked",
                )),
            };
        let credentials = if a.md5 {
            Credentials::md5(username, secret)
        } else {
            Credentials::plain(username, secret)
        };
        let mut cfg = match &a.url {
            Some(url) => ClientConfig::from_url_with_credentials(url, credentials)
                .map_err(|e| Failure::usage(format!("--url: {e}")))?,
            None => ClientConfig::with_credentials(host, port, credentials),
        };
        cfg.connection.events = events;
        if tls {
            let mut t = match a.tls_ca {
                Some(p) => TlsConfig::ca_file(p),
                None => TlsConfig::system(),
            };
            t.server_name = a.tls_server_name;
            cfg.tls = Some(t);
        }
        if let Some(secs) = a.timeout {
            if !(secs.is_finite() && secs > 0.0 && secs < 86_400.0) {
                return Err(Failure::usage(
                    "--timeout must be between 0 and 86400 seconds",
                ));
            }
            let d = Duration::from_secs_f64(secs);
            cfg.connect_timeout = d;
            cfg.connection.login_timeout = d;
            cfg.connection.action_timeout = d;
            if let Some(h) = cfg.http.as_mut() {
                // An HTTP request must be given as long as the action (a synchronous
                // Originate rings within one request).
                h.request_timeout = h.request_timeout.max(d);
            }
        }
        Ok(cfg)
    }
}
