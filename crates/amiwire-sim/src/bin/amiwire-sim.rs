//! `amiwire-sim`: runs the AMI simulator.
use std::net::SocketAddr;
use std::process::ExitCode;

use amiwire_sim::accounts::Accounts;
use amiwire_sim::dialplan::Dialplan;
use amiwire_sim::server::{SimConfig, Simulator};

const HELP: &str = "\
amiwire-sim: an AMI server that behaves like a real Asterisk 22 (for tests)

USAGE:
    amiwire-sim [--listen ADDR] [--accounts manager.conf] [--dialplan extensions.conf]
                [--queues queues.conf] [--http ADDR]

OPTIONS:
    --listen ADDR        where to listen (default 127.0.0.1:5038; port 0 picks a free one)
    --accounts FILE      accounts in manager.conf format (default: built-in admin/amp111,
                         c2call, limited, filtered, as in the recorded Asterisk)
    --dialplan FILE      dialplan in extensions.conf format (default: built-in [test] context)
    --queues FILE        queues in queues.conf format (default: built-in queue 'support')
    --http ADDR          also serve AMI over HTTP (/rawman, /mxml, /arawman, /manager) here
    --auth-timeout SECS  close unauthenticated connections after this (default 30)
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

fn main() -> ExitCode {
    let mut cfg = SimConfig::default();
    cfg.listen = SocketAddr::from(([127, 0, 0, 1], 5038));
    let mut control = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "-h" | "--help" => {
                print!("{HELP}");
                return ExitCode::SUCCESS;
            }
            "--listen" => match value("--listen").and_then(|v| {
                v.parse::<SocketAddr>()
                    .map_err(|e| format!("--listen {v}: {e}"))
            }) {
                Ok(addr) => cfg.listen = addr,
                Err(e) => return fail(&e),
            },
            "--accounts" => {
                let path = match value("--accounts") {
                    Ok(p) => p,
                    Err(e) => return fail(&e),
                };
                match std::fs::read_to_string(&path)
                    .map_err(|e| e.to_string())
                    .and_then(|t| Accounts::parse(&t).map_err(|e| e.to_string()))
                {
                    Ok(a) => cfg.accounts = a,
                    Err(e) => return fail(&format!("{path}: {e}")),
                }
            }
            "--dialplan" => {
                let path = match value("--dialplan") {
                    Ok(p) => p,
                    Err(e) => return fail(&e),
                };
                match std::fs::read_to_string(&path)
                    .map_err(|e| e.to_string())
                    .and_then(|t| Dialplan::parse(&t).map_err(|e| e.to_string()))
                {
                    Ok(d) => cfg.dialplan = d,
                    Err(e) => return fail(&format!("{path}: {e}")),
                }
            }
            "--queues" => {
                let path = match value("--queues") {
                    Ok(p) => p,
                    Err(e) => return fail(&e),
                };
                match std::fs::read_to_string(&path) {
                    Ok(t) => cfg.queues_conf = t,
                    Err(e) => return fail(&format!("{path}: {e}")),
                }
            }
            "--http" => match value("--http").and_then(|v| {
                v.parse::<SocketAddr>()
                    .map_err(|e| format!("--http {v}: {e}"))
            }) {
                Ok(addr) => cfg.http_listen = Some(addr),
                Err(e) => return fail(&e),
            },
            "--auth-timeout" => match value("--auth-timeout").and_then(|v| {
                v.parse::<u64>()
                    .map_err(|e| format!("--auth-timeout {v}: {e}"))
            }) {
                Ok(s) => cfg.auth_timeout = std::time::Duration::from_secs(s),
                Err(e) => return fail(&e),
            },
            "--control" => control = true,
            other => return fail(&format!("unknown argument {other:?} (see --help)")),
        }
    }
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
        if control {
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
