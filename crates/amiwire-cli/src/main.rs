//! `amiwire`: the Asterisk Manager Interface from the command line, and a demo against the
//! built-in simulator.
#![forbid(unsafe_code)]

mod callfile;
mod click2call;
mod conn;
mod demo;
mod render;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use amiwire::action::Originate;
use amiwire::filter::{Filter, FilterSet, ManagerFilter};
use amiwire::Action;
use amiwire::{ActionError, Refusal, Response};
use amiwire_tokio::{Client, ClientEvent, EventMask};
use clap::{Args, Parser, Subcommand};

use conn::ConnArgs;

const EXIT_CODES: &str = "\
EXIT STATUS:
    0  success
    1  the server answered with an error (Response: Error, a failed Originate)
    2  bad usage or settings
    3  cannot connect (refused, unreachable, timed out, TLS)
    4  authentication failed
    5  permission denied (the user lacks the privilege)
    6  no result: timed out or connection lost (the action's outcome may be unknown)
    7  a local file could not be read or written

ENVIRONMENT:
    AMI_HOST, AMI_PORT, AMI_URL, AMI_USERNAME, AMI_SECRET, AMI_TLS, AMI_TLS_CA,
    AMI_TLS_SERVER_NAME, AMI_CONFIG, AMI_TIMEOUT (the flags of the same names win over them)

AMI OVER HTTP:
    --url http://HOST:8088/rawman talks to Asterisk's HTTP manager (webenabled = yes in
    manager.conf, http.conf enabled) instead of the AMI port: /rawman, /mxml, /manager log in
    with a Login action and keep a cookie session; /arawman, /amxml, /amanager use HTTP
    Digest; https:// for TLS (--tls-ca for a private CA). Every subcommand that talks to a
    server takes it.";

#[derive(Debug, Parser)]
#[command(
    name = "amiwire",
    version,
    about = "The Asterisk Manager Interface (AMI) from the command line",
    after_help = EXIT_CODES
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Start the built-in simulator, place a click-to-call on it and show what happens
    #[command(after_help = "EXAMPLES:\n    amiwire demo\n    amiwire demo --json")]
    Demo {
        /// JSON lines instead of text
        #[arg(long)]
        json: bool,
    },
    /// Print live events, filtered
    #[command(after_help = "\
FILTERS:
    --event NAME keeps events of that name (repeat for several). --filter takes manager.conf's
    eventfilter syntax: a POSIX regex over the event text ('Exten: 902'), '!' first to exclude
    ('!Event: Newexten'), or the new form
    'eventfilter(action(include),name(Hangup),header(Exten),method(exact)) = 902'.
    Include filters, then exclude filters, as Asterisk applies them. With --server-side the
    --filter ones are also set on the server (Filter action; the user needs system write).

EXAMPLES:
    amiwire events -u admin
    amiwire events --event DialBegin --event Hangup --filter 'Exten: 902' --json
    amiwire events --filter '!Event: (Newexten|VarSet)' --server-side --count 100")]
    Events(EventsArgs),
    /// Send one action and print its whole result (response, list items, OriginateResponse)
    #[command(after_help = "\
EXAMPLES:
    amiwire action Ping
    amiwire action CoreShowChannels
    amiwire action Getvar Variable=TESTGLOBAL
    amiwire action Originate Channel=Local/100@test Context=test Exten=s Priority=1 Async=true
    amiwire action Setvar Variable=FOO Value=bar --json")]
    Action(ActionArgs),
    /// Run a CLI command on the server and print its output
    #[command(after_help = "\
EXAMPLES:
    amiwire command 'core show channels'
    amiwire command 'dialplan show test'")]
    Command(CommandArgs),
    /// Place a call (Originate): a channel connected to an extension or an application
    #[command(after_help = "\
EXAMPLES:
    amiwire originate PJSIP/201 --context from-internal --exten 902
    amiwire originate Local/200@test --context test --exten 100 --callerid 'Sales <100>'
    amiwire originate PJSIP/201 --application Playback --data hello-world --var CAMPAIGN=7
    amiwire originate PJSIP/201 --exten 902 --sync --call-timeout 20")]
    Originate(OriginateArgs),
    /// Write a .call file into Asterisk's spool directory, atomically
    #[command(after_help = "\
The file is written next to the spool directory on the same filesystem, flushed, then renamed
into it, so Asterisk never reads half a file.

EXAMPLES:
    amiwire callfile PJSIP/201 --context from-internal --exten 902
    amiwire callfile PJSIP/201 --application Playback --data tt-monkeys --spool /tmp/outgoing
    amiwire callfile PJSIP/201 --exten 902 --max-retries 2 --retry-time 60 --delay 300
    amiwire callfile PJSIP/201 --exten 902 --print")]
    Callfile(CallfileArgs),
    /// Serve the classic callback web endpoint: POST /call rings an agent, then dials a number
    #[command(after_help = "\
POST /call with agent=…&number=… (form body or query) and 'Authorization: Bearer TOKEN', where
TOKEN is the value of AMIWIRE_CLICK2CALL_TOKEN (at least 16 characters). The agent's channel
(--channel, with {agent} and {number} replaced) is called; once it answers it is connected to
the number in --context. The answer is JSON: 200 answered, 502 failed, 504 no result (the call
may have been placed: its agent and number stay busy until its fate is known), 503 the AMI link
is down (answered at once; the call is never placed later), 400 invalid input, 401 bad token,
409 a call for that agent or number is in progress (from the request until the agent's channel
hangs up), 413 request too large, 429 over --rate. With 'Accept: text/event-stream' the answer
is a stream of server-sent events instead: accepted, ringing, answered, hungup {cause,
cause_txt}, failed, error {status, error}; it ends with the call.

GET / is a web page that places a call and shows its progress (the token is typed in, and kept
in the tab's sessionStorage at most). GET /health says whether the AMI session is up.

One call per number: numbers are compared without one leading '+' and without one leading
--national-prefix, so with '--national-prefix 0', 600, 0600 and +600 are one number (the
number dialled is the one given). Limits: request head and body 8 KiB each, 5 s for the head
and 5 s for the body, 64 connections, at most 32 of them still sending their request head and
--max-per-client from one address; a connection over a limit is answered 503.

The AMI user needs write = originate and read = call (the call's events); listing the live
channels after a reconnect needs write = reporting (CoreShowChannels) or call (Status).

EXAMPLES:
    AMIWIRE_CLICK2CALL_TOKEN=$(openssl rand -hex 16) amiwire click2call \\
        --channel 'PJSIP/{agent}' --context from-internal --callerid 'Callback <{number}>'
    curl -H \"Authorization: Bearer $TOKEN\" -d agent=201 -d number=0612345678 \\
        http://127.0.0.1:8089/call")]
    Click2call(Click2CallArgs),
    /// Decode a recorded server-to-client AMI stream into JSON lines
    #[command(
        after_help = "EXAMPLES:\n    amiwire decode crates/amiwire/tests/data/10-pipelined.server.bin\n    amiwire decode --no-banner --chunk 1 body.txt"
    )]
    Decode {
        /// The file (a raw byte stream as the server sent it)
        file: PathBuf,
        /// Print only the number of messages
        #[arg(long)]
        count: bool,
        /// The stream does not start with a banner (an HTTP /rawman body, what a server reads)
        #[arg(long)]
        no_banner: bool,
        /// Feed the decoder N bytes at a time, as socket reads would (the output is the same)
        #[arg(long, value_name = "N", default_value = "4096")]
        chunk: std::num::NonZeroUsize,
    },
    /// Run the AMI simulator (an Asterisk 22 stand-in for tests)
    #[command(after_help = "\
EXAMPLES:
    amiwire sim
    amiwire sim --listen 127.0.0.1:0 --accounts manager.conf --dialplan extensions.conf")]
    Sim(SimArgs),
}

#[derive(Debug, Args)]
struct EventsArgs {
    #[command(flatten)]
    conn: ConnArgs,
    /// Keep events of this name (repeatable)
    #[arg(long = "event", short = 'e', value_name = "NAME")]
    events: Vec<String>,
    /// A manager.conf-style event filter (repeatable)
    #[arg(long = "filter", short = 'f', value_name = "FILTER")]
    filters: Vec<String>,
    /// Also set the --filter filters on the server
    #[arg(long)]
    server_side: bool,
    /// The session's event mask (Events: on, off, or classes such as call,user)
    #[arg(long, default_value = "on")]
    mask: String,
    /// Stop after this many events
    #[arg(long, short = 'n')]
    count: Option<u64>,
    /// JSON lines instead of text
    #[arg(long)]
    json: bool,
    /// Stop when the connection breaks instead of reconnecting
    #[arg(long)]
    no_reconnect: bool,
}

#[derive(Debug, Args)]
struct ActionArgs {
    #[command(flatten)]
    conn: ConnArgs,
    /// The action's name
    name: String,
    /// Its headers, as Key=Value (a key may repeat, e.g. Variable=A=1 Variable=B=2)
    #[arg(value_name = "KEY=VALUE")]
    headers: Vec<String>,
    /// JSON instead of text
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct CommandArgs {
    #[command(flatten)]
    conn: ConnArgs,
    /// The CLI command
    cli: String,
}

#[derive(Debug, Args, Clone)]
struct Target {
    /// The dialplan context to connect the answered channel to
    #[arg(long, short = 'c', default_value = "default")]
    context: String,
    /// The extension
    #[arg(long, short = 'x', conflicts_with = "application")]
    exten: Option<String>,
    /// The priority
    #[arg(long, short = 'p', default_value_t = 1)]
    priority: u32,
    /// Run this application instead of an extension
    #[arg(long, short = 'a')]
    application: Option<String>,
    /// The application's arguments
    #[arg(long, short = 'd', requires = "application")]
    data: Option<String>,
    /// Caller ID, e.g. 'Sales <100>'
    #[arg(long)]
    callerid: Option<String>,
    /// A channel variable NAME=VALUE (repeatable)
    #[arg(long = "var", short = 'v', value_name = "NAME=VALUE")]
    vars: Vec<String>,
    /// Account code
    #[arg(long)]
    account: Option<String>,
}

#[derive(Debug, Args)]
struct OriginateArgs {
    #[command(flatten)]
    conn: ConnArgs,
    /// The channel to call first (PJSIP/201, Local/100@test…)
    channel: String,
    #[command(flatten)]
    target: Target,
    /// Seconds the channel may ring
    #[arg(long, default_value_t = 30)]
    call_timeout: u32,
    /// Wait in the Originate action itself (synchronous): it then holds the connection
    #[arg(long, conflicts_with = "asynchronous")]
    sync: bool,
    /// Async: the server answers at once and the result comes as an OriginateResponse event,
    /// which this command waits for (the default)
    #[arg(long = "async")]
    asynchronous: bool,
    /// JSON instead of text
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct CallfileArgs {
    /// The channel to call first
    channel: String,
    #[command(flatten)]
    target: Target,
    /// Asterisk's outgoing spool directory
    #[arg(long, default_value = "/var/spool/asterisk/outgoing")]
    spool: PathBuf,
    /// Retries after the first attempt
    #[arg(long)]
    max_retries: Option<u32>,
    /// Seconds between attempts
    #[arg(long)]
    retry_time: Option<u32>,
    /// Seconds the channel may ring
    #[arg(long)]
    wait_time: Option<u32>,
    /// Place the call this many seconds from now (the file's modification time)
    #[arg(long, value_name = "SECS")]
    delay: Option<u64>,
    /// Keep the file in outgoing_done when done
    #[arg(long)]
    archive: bool,
    /// Print the file instead of writing it
    #[arg(long)]
    print: bool,
}

#[derive(Debug, Args)]
struct Click2CallArgs {
    #[command(flatten)]
    conn: ConnArgs,
    /// Where to serve HTTP
    #[arg(long, default_value = "127.0.0.1:8089")]
    listen: std::net::SocketAddr,
    /// The agent's channel, {agent} and {number} replaced (e.g. 'PJSIP/{agent}')
    #[arg(long)]
    channel: String,
    #[command(flatten)]
    target: Target,
    /// What an agent must match (a regex, whole value)
    #[arg(long, default_value = "[0-9]{1,10}")]
    agent_pattern: String,
    /// What a number must match (a regex, whole value)
    #[arg(long, default_value = r"\+?[0-9]{2,20}")]
    number_pattern: String,
    /// A national (trunk) prefix that is the same as none for the one-call-per-number lock:
    /// with '--national-prefix 0', 600, 0600, +600 and %2B600 are one number
    #[arg(long, value_name = "DIGITS")]
    national_prefix: Option<String>,
    /// Connections one client address (IPv4, or IPv6 /64) may hold at once
    #[arg(long, value_name = "N", default_value_t = 8)]
    max_per_client: usize,
    /// Calls per minute, all agents together
    #[arg(long, default_value_t = 30)]
    rate: u32,
    /// Seconds the agent's phone may ring
    #[arg(long, default_value_t = 30)]
    ring_timeout: u32,
    /// Seconds a call keeps its agent and number busy at most (if its hang-up is not seen)
    #[arg(long, default_value_t = 3600)]
    max_call: u64,
}

#[derive(Debug, Args)]
struct SimArgs {
    #[command(flatten)]
    sim: amiwire_sim::options::SimOptions,
}

/// The command's exit statuses, as `--help` lists them (`EXIT STATUS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exit {
    /// 1: the server answered with an error (`Response: Error`, a failed Originate).
    Refused = 1,
    /// 2: bad usage or settings.
    Usage = 2,
    /// 3: cannot connect (refused, unreachable, timed out, TLS), or cannot listen.
    Connect = 3,
    /// 4: authentication failed.
    Auth = 4,
    /// 5: permission denied (the user lacks the privilege).
    PermissionDenied = 5,
    /// 6: no result: timed out or connection lost (the action's outcome may be unknown).
    NoResult = 6,
    /// 7: a local file could not be read or written.
    LocalFile = 7,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

/// Why a subcommand stopped before its end.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The reader of the output went away (`amiwire events | head`): stop quietly, with
    /// success.
    OutputClosed,
    /// An error, with the exit status it maps to.
    Error {
        /// The exit status.
        exit: Exit,
        /// What to print on stderr.
        message: String,
    },
}

impl Failure {
    pub(crate) fn new(exit: Exit, message: impl Into<String>) -> Failure {
        Failure::Error {
            exit,
            message: message.into(),
        }
    }

    pub(crate) fn usage(message: impl Into<String>) -> Failure {
        Failure::new(Exit::Usage, message)
    }

    pub(crate) fn io(message: impl Into<String>) -> Failure {
        Failure::new(Exit::LocalFile, message)
    }
}

impl From<amiwire_tokio::Error> for Failure {
    fn from(e: amiwire_tokio::Error) -> Failure {
        use amiwire_tokio::Error as E;
        let exit = match &e {
            E::Connect { .. } | E::ConnectTimeout { .. } | E::Tls { .. } => Exit::Connect,
            E::LoginFailed { .. } | E::LoginTimeout(_) => Exit::Auth,
            E::Local(_) => Exit::Usage,
            E::Action(ActionError::ListTooLong { .. }) => Exit::Refused,
            _ => Exit::NoResult,
        };
        let mut message = e.to_string();
        if e.outcome_unknown() {
            message.push_str(" (it may have been carried out)");
        }
        Failure::new(exit, message)
    }
}

impl From<amiwire::EncodeError> for Failure {
    fn from(e: amiwire::EncodeError) -> Failure {
        Failure::usage(e.to_string())
    }
}

/// [`Exit::Refused`] (or [`Exit::PermissionDenied`] for a privilege refusal) when the server
/// said no.
fn check(r: &Response) -> Result<(), Failure> {
    if r.is_success() {
        return Ok(());
    }
    let text = r
        .text()
        .or_else(|| {
            r.originate
                .as_ref()
                .and_then(|o| o.get_str("Response"))
                .map(|_| "the call failed")
        })
        .unwrap_or("error")
        .to_owned();
    let exit = match r.refusal() {
        Some(Refusal::PermissionDenied) => Exit::PermissionDenied,
        _ => Exit::Refused,
    };
    Err(Failure::new(exit, format!("{}: {text}", r.action)))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("amiwire: cannot start: {e}");
            return Exit::LocalFile.into();
        }
    };
    match rt.block_on(run(cli.command)) {
        Ok(()) | Err(Failure::OutputClosed) => ExitCode::SUCCESS,
        Err(Failure::Error { exit, message }) => {
            eprintln!("amiwire: {message}");
            exit.into()
        }
    }
}

async fn run(cmd: Cmd) -> Result<(), Failure> {
    match cmd {
        Cmd::Demo { json } => demo::run(json).await,
        Cmd::Events(a) => events(a).await,
        Cmd::Action(a) => action(a).await,
        Cmd::Command(a) => command(a).await,
        Cmd::Originate(a) => originate(a).await,
        Cmd::Callfile(a) => callfile::run(a),
        Cmd::Click2call(a) => click2call::run(a).await,
        Cmd::Decode {
            file,
            count,
            no_banner,
            chunk,
        } => decode(&file, count, no_banner, chunk.get()),
        Cmd::Sim(a) => sim(a).await,
    }
}

fn out(text: &str) -> Result<(), Failure> {
    let mut o = std::io::stdout().lock();
    o.write_all(text.as_bytes())
        .and_then(|_| o.flush())
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                // The reader went away (`amiwire events | head`): stop quietly.
                Failure::OutputClosed
            } else {
                Failure::io(format!("cannot write the output: {e}"))
            }
        })
}

async fn connect(conn: &ConnArgs, events: Option<EventMask>) -> Result<Client, Failure> {
    Ok(Client::connect(conn.client_config(events)?).await?)
}

async fn events(a: EventsArgs) -> Result<(), Failure> {
    let mut set = FilterSet::new();
    let mut server = Vec::new();
    for f in &a.filters {
        let t = f.trim_start();
        let parsed = if t.starts_with("eventfilter") {
            ManagerFilter::parse_manager_conf_line(t)
        } else {
            ManagerFilter::legacy(f)
        }
        .map_err(|e| Failure::usage(format!("--filter {f:?}: {e}")))?;
        server.push(parsed.clone());
        set.add(parsed);
    }
    // No --event: any name; no --filter: an empty set, which lets everything through.
    let names = if a.events.is_empty() {
        Filter::all()
    } else {
        Filter::events(&a.events)
    };
    let filter = names & set;
    // A long watch survives restarts of the server: reconnect, with the markers on stderr.
    let mut cfg = a.conn.client_config(Some(EventMask::parse(&a.mask)))?;
    if !a.no_reconnect {
        cfg.reconnect = Some(amiwire_tokio::Reconnect::default());
    }
    let client = Client::connect(cfg).await?;
    let mut stream = client.events(filter);
    if a.server_side {
        for f in &server {
            check(&client.add_server_filter(f).await?)?;
        }
    }
    let mut seen = 0u64;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        if a.count.is_some_and(|n| seen >= n) {
            break;
        }
        let item = tokio::select! {
            item = stream.recv() => item,
            _ = &mut ctrl_c => break,
        };
        let Some(item) = item else {
            client.close().await;
            return Err(Failure::new(Exit::NoResult, "the connection ended"));
        };
        match item {
            ClientEvent::Event(m) => {
                seen += 1;
                if a.json {
                    out(&format!("{}\n", render::json(&m.as_ref())))?;
                } else {
                    out(&format!("{}\n", render::text(&m.as_ref())))?;
                }
            }
            ClientEvent::Connected { banner } => eprintln!("amiwire: connected: {banner}"),
            ClientEvent::Disconnected { reason } => eprintln!("amiwire: disconnected: {reason}"),
            ClientEvent::Reconnected { banner } => eprintln!("amiwire: reconnected: {banner}"),
            ClientEvent::Lagged { dropped } => {
                eprintln!("amiwire: output too slow: {dropped} events dropped")
            }
            other => eprintln!("amiwire: {other:?}"),
        }
    }
    client.close().await;
    Ok(())
}

/// `Key=Value` arguments into an action.
fn build_action(name: &str, headers: &[String]) -> Result<Action, Failure> {
    let mut action = Action::new(name);
    action.validate()?;
    for h in headers {
        let Some((k, v)) = h.split_once('=') else {
            return Err(Failure::usage(format!("{h:?}: expected KEY=VALUE")));
        };
        action.push_header(k.trim(), v).validate()?;
    }
    Ok(action)
}

async fn action(a: ActionArgs) -> Result<(), Failure> {
    let action = build_action(&a.name, &a.headers)?;
    // Events are not needed (on a busy PBX they would be thousands a second), except for an
    // async Originate's result, which comes as a call event.
    let mask = if a.name.eq_ignore_ascii_case("originate") {
        EventMask::parse("call")
    } else {
        EventMask::Off
    };
    let client = connect(&a.conn, Some(mask)).await?;
    let result = client.send(action).await;
    client.close().await;
    let r = result?;
    if a.json {
        out(&format!("{}\n", render::response_json(&r)))?;
    } else {
        out(&render::response_text(&r))?;
    }
    check(&r)
}

async fn command(a: CommandArgs) -> Result<(), Failure> {
    let action = Action::command(&a.cli);
    action.validate()?;
    let client = connect(&a.conn, Some(EventMask::Off)).await?;
    let result = client.send(action).await;
    client.close().await;
    let r = result?;
    check(&r)?;
    let mut text = String::new();
    for line in r.output() {
        text.push_str(&String::from_utf8_lossy(line));
        text.push('\n');
    }
    out(&text)
}

fn parse_var(v: &str) -> Result<(&str, &str), Failure> {
    v.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| Failure::usage(format!("--var {v:?}: expected NAME=VALUE")))
}

async fn originate(a: OriginateArgs) -> Result<(), Failure> {
    let t = &a.target;
    let mut o = match (&t.application, &t.exten) {
        (Some(app), _) => {
            Originate::to_application(&a.channel, app, t.data.clone().unwrap_or_default())
        }
        (None, Some(exten)) => Originate::to_exten(&a.channel, &t.context, exten, t.priority),
        (None, None) => return Err(Failure::usage("give --exten or --application")),
    };
    o = o
        .asynchronous(!a.sync)
        .timeout_ms(a.call_timeout.saturating_mul(1000));
    if let Some(c) = &t.callerid {
        o = o.caller_id(c);
    }
    if let Some(acc) = &t.account {
        o = o.account(acc);
    }
    for v in &t.vars {
        let (k, val) = parse_var(v)?;
        o = o.variable(k, val);
    }
    let action = o.build();
    action.validate()?;
    // The result of an async Originate comes as an event of the call class.
    let mask = if a.sync {
        EventMask::Off
    } else {
        EventMask::parse("call")
    };
    let client = connect(&a.conn, Some(mask)).await?;
    // The action waits as long as the call may ring, plus margin.
    let wait = Duration::from_secs(u64::from(a.call_timeout) + 15);
    let result = client.send_with_timeout(action, wait).await;
    client.close().await;
    let r = result?;
    if a.json {
        out(&format!("{}\n", render::response_json(&r)))?;
    } else {
        let mut s = format!(
            "{}: {}\n",
            r.message.get_str("Response").unwrap_or("?"),
            r.text().unwrap_or("")
        );
        if let Some(o) = &r.originate {
            let _ = std::fmt::Write::write_fmt(
                &mut s,
                format_args!(
                    "call: {} (reason {}), channel {}\n",
                    o.get_str("Response").unwrap_or("?"),
                    o.get_str("Reason").unwrap_or("?"),
                    o.get_str("Channel").unwrap_or("?")
                ),
            );
        }
        out(&s)?;
    }
    check(&r)
}

fn decode(
    file: &std::path::Path,
    count: bool,
    no_banner: bool,
    chunk: usize,
) -> Result<(), Failure> {
    use amiwire::DecoderConfig;
    let data = std::fs::read(file)
        .map_err(|e| Failure::io(format!("cannot read {}: {e}", file.display())))?;
    let config = if no_banner {
        DecoderConfig::without_banner()
    } else {
        DecoderConfig::client()
    };
    let mut text = String::new();
    let counts = amiwire::jsonl::decode_stream(&data, config, chunk, |line| {
        if !count {
            text.push_str(line);
            text.push('\n');
            if text.len() > 1 << 16 {
                out(&text)?;
                text.clear();
            }
        }
        Ok::<(), Failure>(())
    })?;
    if count {
        text = format!("{}\n", counts.messages);
    }
    out(&text)?;
    if counts.errors > 0 {
        eprintln!("amiwire: {} message(s) broke a limit", counts.errors);
    }
    Ok(())
}

async fn sim(a: SimArgs) -> Result<(), Failure> {
    use amiwire_sim::options::OptionsError;
    use amiwire_sim::server::Simulator;
    let cfg = a.sim.config().map_err(|e| match e {
        OptionsError::Read { path, error } => {
            Failure::io(format!("cannot read {}: {error}", path.display()))
        }
        OptionsError::Parse { path, message } => {
            Failure::usage(format!("{}: {message}", path.display()))
        }
    })?;
    let sim = Simulator::start(cfg).await.map_err(|e| {
        Failure::new(
            Exit::Connect,
            format!("cannot listen on {}: {e}", a.sim.listen),
        )
    })?;
    eprintln!(
        "amiwire: simulator listening on {} (admin/amp111)",
        sim.addr()
    );
    if let Some(h) = sim.http_addr() {
        eprintln!("amiwire: AMI over HTTP on http://{h}/rawman");
    }
    let _ = tokio::signal::ctrl_c().await;
    sim.stop().await;
    Ok(())
}
