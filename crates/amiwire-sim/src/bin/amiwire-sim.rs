//! `amiwire-sim`: runs the AMI simulator.
use std::process::ExitCode;

use amiwire_sim::options::{OptionsError, SimOptions};
use amiwire_sim::server::Simulator;

const HELP: &str = "\
amiwire-sim: an AMI server that behaves like a real Asterisk 22 (for tests)

USAGE:
    amiwire-sim [--listen ADDR] [--accounts manager.conf] [--dialplan extensions.conf]
                [--queues queues.conf] [--http ADDR] [--auth-timeout SECS] [--seed N]
                [--control]

OPTIONS:
    --listen ADDR        where to listen (default 127.0.0.1:5038; port 0 picks a free one)
    --accounts FILE      accounts in manager.conf format (default: built-in admin/amp111,
                         c2call, limited, filtered, as in the recorded Asterisk)
    --dialplan FILE      dialplan in extensions.conf format (default: built-in [test] context)
    --queues FILE        queues in queues.conf format (default: built-in queue 'support')
    --http ADDR          also serve AMI over HTTP (/rawman, /mxml, /manager; /arawman, /amxml, /amanager with Digest) here
    --auth-timeout SECS  close unauthenticated connections after this (default 30)
    --seed N             seed the random source (challenges, nonces, cookies, bridge ids,
                         ${RAND()}), so that a run repeats (default: from the clock)
    --control            take commands on standard input, one a line, each answered on
                         standard output by a line `ok <command>` once done (for test suites
                         in any language); the end of standard input stops the simulator:
                           restart         an Asterisk restart: a Shutdown event to every
                                           session, close them all, go on accepting
                           flood N [NAME]  raise N UserEvents (UserEvent: NAME, default
                                           Flood; Seq: 1..N), as fast as sessions take them
                           stop            stop the simulator
    -h, --help           this help

EXAMPLES:
    amiwire-sim
    amiwire-sim --listen 127.0.0.1:0 --accounts etc/manager.conf --dialplan etc/extensions.conf
    amiwire-sim --listen 127.0.0.1:0 --control    # prints the port, then reads commands
";

fn fail(msg: &str) -> ExitCode {
    eprintln!("amiwire-sim: {msg}");
    ExitCode::from(2)
}

/// The command line: the simulator's options (shared with `amiwire sim`) and `--control`.
#[derive(clap::Parser)]
#[command(name = "amiwire-sim", override_help = HELP)]
struct Cli {
    #[command(flatten)]
    sim: SimOptions,
    /// Take commands on standard input.
    #[arg(long)]
    control: bool,
}

/// The command line, or the exit status for `--help` or a usage error (told on stderr).
fn parse_args() -> Result<Cli, ExitCode> {
    use clap::error::{ContextKind, ErrorKind};
    use clap::Parser;
    match Cli::try_parse() {
        Ok(cli) => Ok(cli),
        Err(e) if e.kind() == ErrorKind::DisplayHelp => {
            print!("{HELP}");
            Err(ExitCode::SUCCESS)
        }
        Err(e) if e.kind() == ErrorKind::UnknownArgument => {
            let arg = e
                .get(ContextKind::InvalidArg)
                .map(|v| v.to_string())
                .unwrap_or_default();
            Err(fail(&format!("unknown argument {arg:?} (see --help)")))
        }
        Err(e) => {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("");
            Err(fail(first.strip_prefix("error: ").unwrap_or(first)))
        }
    }
}

fn main() -> ExitCode {
    let cli = match parse_args() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let cfg = match cli.sim.config() {
        Ok(cfg) => cfg,
        Err(OptionsError::Read { path, error }) => {
            return fail(&format!("{}: {error}", path.display()))
        }
        Err(OptionsError::Parse { path, message }) => {
            return fail(&format!("{}: {message}", path.display()))
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    rt.block_on(async {
        let sim = match Simulator::start(cfg).await {
            Ok(s) => s,
            Err(e) => return fail(&format!("cannot listen: {e}")),
        };
        println!("amiwire-sim listening on {}", sim.addr());
        if let Some(h) = sim.http_addr() {
            println!("amiwire-sim serving AMI over HTTP on http://{h}/rawman");
        }
        flush_stdout();
        if cli.control {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = serve_control(&sim) => {}
            }
        } else {
            let _ = tokio::signal::ctrl_c().await;
        }
        sim.stop().await;
        ExitCode::SUCCESS
    })
}

fn flush_stdout() {
    use std::io::Write;
    let _ = std::io::stdout().flush();
}

/// Reads `--control` commands from standard input until `stop` or its end.
async fn serve_control(sim: &Simulator) {
    use amiwire_sim::accounts::Privileges;
    use amiwire_sim::session::SimEvent;
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [] => continue,
            ["stop"] => {
                println!("ok stop");
                flush_stdout();
                return;
            }
            ["restart"] => {
                sim.restart();
                println!("ok restart");
            }
            ["flood", n, rest @ ..] if rest.len() <= 1 => {
                let Ok(n) = n.parse::<usize>() else {
                    println!("error flood: {n:?} is not a count");
                    flush_stdout();
                    continue;
                };
                let name = rest.first().copied().unwrap_or("Flood");
                sim.flood_with(n, |i| {
                    let seq = (i + 1).to_string();
                    SimEvent::new(
                        "UserEvent",
                        Privileges::USER,
                        &[("UserEvent", name), ("Seq", &seq)],
                    )
                })
                .await;
                println!("ok flood {n}");
            }
            _ => println!("error unknown command {line:?} (restart, flood N [NAME], stop)"),
        }
        flush_stdout();
    }
}
