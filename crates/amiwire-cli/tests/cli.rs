//! Every subcommand of the `amiwire` binary, run as a user would, against the simulator.
mod support;

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use amiwire_sim::accounts::Privileges;
use amiwire_sim::server::{SimConfig, Simulator};
use amiwire_sim::session::SimEvent;

use support::bin;

/// `amiwire` logged in to `sim` as `user` (through the environment, as a script would).
fn ami(sim: &Simulator, user: &str, secret: &str) -> Command {
    let mut c = bin();
    c.env("AMI_PORT", sim.addr().port().to_string())
        .env("AMI_USERNAME", user)
        .env("AMI_SECRET", secret)
        .env("AMI_TIMEOUT", "10");
    c
}

/// `amiwire ARGS…` as admin on `sim`.
async fn as_admin(sim: &Simulator, args: &[&str]) -> Output {
    let mut c = ami(sim, "admin", "amp111");
    c.args(args);
    run(c).await
}

/// Runs a command off the async runtime (the simulator lives on it).
async fn run(mut c: Command) -> Output {
    tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

async fn sim() -> Simulator {
    let mut cfg = SimConfig::default();
    cfg.failed_login_delay = Duration::from_millis(50);
    Simulator::start(cfg).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_places_a_call_and_shows_it() {
    let o = run({
        let mut c = bin();
        c.arg("demo");
        c
    })
    .await;
    let out = text(&o.stdout);
    assert!(o.status.success(), "{out}\n{}", text(&o.stderr));
    for needle in [
        "connected   Asterisk Call Manager/11.0.0",
        "Newchannel     Local/200@test-",
        "DialBegin",
        "BridgeEnter",
        "OriginateResponse: Success (reason 4, answered)",
        "CoreShowChannels: 4 channels up (event list of 4 items)",
        "Command 'core show channels':",
        "summary     4 channels",
        "logged off.",
    ] {
        assert!(out.contains(needle), "{needle:?} missing from\n{out}");
    }
    // Every channel that was created was hung up.
    assert_eq!(out.matches("  Hangup  ").count(), 4, "{out}");

    let o = run({
        let mut c = bin();
        c.args(["demo", "--json"]);
        c
    })
    .await;
    assert!(o.status.success());
    let out = text(&o.stdout);
    assert!(
        out.lines().all(|l| l.starts_with('{') && l.ends_with('}')),
        "{out}"
    );
    assert!(out
        .lines()
        .last()
        .unwrap()
        .starts_with("{\"summary\": {\"channels\": 4"));
    assert!(out.contains("{\"originate\": {\"response\": "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn action_prints_the_whole_result_and_sets_the_exit_status() {
    let sim = sim().await;
    let o = as_admin(&sim, &["action", "Getvar", "Variable=TESTGLOBAL"]).await;
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.starts_with("Response: Success\n"), "{out}");
    assert!(
        out.contains("Variable: TESTGLOBAL\nValue: initial\n"),
        "{out}"
    );

    // A list, as JSON: the response, the items and the completion event.
    let o = as_admin(&sim, &["action", "CoreShowChannels", "--json"]).await;
    assert!(o.status.success());
    let out = text(&o.stdout);
    assert!(
        out.starts_with("{\"response\": {\"headers\": [[\"Response\", \"Success\"]"),
        "{out}"
    );
    assert!(out.contains("\"events\": [], \"complete\": {\"headers\": [[\"Event\", \"CoreShowChannelsComplete\"]"), "{out}");

    // Refused by the server: status 1, the server's words.
    let o = as_admin(&sim, &["action", "NoSuchThing"]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("Invalid/unknown command"),
        "{}",
        text(&o.stderr)
    );

    // Not allowed for this user: status 5.
    let mut c = ami(&sim, "limited", "limited");
    c.args(["action", "Command", "Command=core show version"]);
    let o = run(c).await;
    assert_eq!(o.status.code(), Some(5), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("Permission denied"));

    // A header that would inject a line is refused before connecting: status 2.
    let o = as_admin(&sim, &["action", "Getvar", "Variable=X\r\nAction: Hangup"]).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    let o = as_admin(&sim, &["action", "Getvar", "NoEquals"]).await;
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("expected KEY=VALUE"));
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_prints_the_cli_output() {
    let sim = sim().await;
    let o = as_admin(&sim, &["command", "dialplan show test"]).await;
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.contains("[ Context 'test' created by 'pbx_config' ]"),
        "{out}"
    );
    assert!(out.contains("'100' =>"), "{out}");
    assert!(!out.contains("Output:"), "{out}");

    let o = as_admin(&sim, &["command", "no such command"]).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stdout));
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn originate_waits_for_the_call_result() {
    let sim = sim().await;
    let o = as_admin(
        &sim,
        &[
            "originate",
            "Local/110@test",
            "--context",
            "test",
            "--exten",
            "s",
            "--callerid",
            "Sales <100>",
            "--var",
            "CAMPAIGN=7",
        ],
    )
    .await;
    let out = text(&o.stdout);
    assert!(o.status.success(), "{out} {}", text(&o.stderr));
    assert!(
        out.starts_with("Success: Originate successfully queued\n"),
        "{out}"
    );
    assert!(
        out.contains("call: Success (reason 4), channel Local/110@test-"),
        "{out}"
    );

    // A context that does not exist: the call fails, status 1.
    let o = as_admin(
        &sim,
        &[
            "originate",
            "Local/110@nowhere",
            "--context",
            "test",
            "--exten",
            "s",
            "--json",
        ],
    )
    .await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stdout));
    assert!(text(&o.stdout)
        .contains("\"originate\": {\"headers\": [[\"Event\", \"OriginateResponse\"]"));
    assert!(text(&o.stdout).contains("[\"Response\", \"Failure\"]"));

    // An extension the dialplan lacks: refused at once, status 1.
    let o = as_admin(&sim, &["originate", "Local/110@test", "--exten", "s"]).await;
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        text(&o.stderr),
        "amiwire: Originate: Extension does not exist.\n"
    );

    // Synchronous.
    let o = as_admin(
        &sim,
        &[
            "originate",
            "Local/110@test",
            "--context",
            "test",
            "--exten",
            "s",
            "--sync",
        ],
    )
    .await;
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "Success: Originate successfully queued\n");

    // Neither --exten nor --application.
    let o = as_admin(&sim, &["originate", "Local/110@test"]).await;
    assert_eq!(o.status.code(), Some(2));
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_filtered_and_counted() {
    let sim = sim().await;
    let mut c = ami(&sim, "admin", "amp111");
    c.args([
        "events",
        "--event",
        "UserEvent",
        "--filter",
        "UserEvent: keep",
        "--count",
        "2",
        "--json",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = Killed(c.spawn().unwrap());
    // Wait until it is connected (it says so on stderr).
    let stderr = child.0.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let line = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(10)))
        .await
        .unwrap()
        .unwrap();
    assert!(
        line.starts_with("amiwire: connected: Asterisk Call Manager"),
        "{line}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut i = 0;
    while child.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "amiwire events did not stop");
        let name = ["drop", "keep"][i % 2];
        sim.raise(SimEvent::new(
            "UserEvent",
            Privileges::USER,
            &[("UserEvent", name), ("N", &i.to_string())],
        ));
        sim.raise(SimEvent::new(
            "Reload",
            Privileges::SYSTEM,
            &[("UserEvent", "keep")],
        ));
        i += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut out = String::new();
    child
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(child.0.wait().unwrap().success());
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    for l in lines {
        assert!(
            l.starts_with("{\"headers\": [[\"Event\", \"UserEvent\"]"),
            "{l}"
        );
        assert!(l.contains("[\"UserEvent\", \"keep\"]"), "{l}");
    }

    // A filter that does not parse.
    let o = as_admin(&sim, &["events", "--filter", "eventfilter(bogus(x)) = y"]).await;
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("--filter"), "{}", text(&o.stderr));
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_errors_have_their_own_status_and_never_show_the_secret() {
    let sim = sim().await;
    let mut c = ami(&sim, "admin", "wrong-s3cret");
    c.args(["action", "Ping"]);
    let o = run(c).await;
    assert_eq!(o.status.code(), Some(4));
    let err = text(&o.stderr);
    assert_eq!(
        err,
        "amiwire: login as admin failed: Authentication failed\n"
    );
    assert!(!err.contains("s3cret") && !text(&o.stdout).contains("s3cret"));

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut c = bin();
    c.args(["command", "core show version", "-u", "admin", "-P"])
        .arg(port.to_string())
        .env("AMI_SECRET", "x");
    let o = run(c).await;
    assert_eq!(o.status.code(), Some(3));
    assert!(text(&o.stderr).starts_with("amiwire: cannot connect to 127.0.0.1:"));

    // No secret and no terminal to ask on.
    let mut c = bin();
    c.args(["action", "Ping", "-u", "admin"]);
    let o = run(c).await;
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("no secret"));

    // Everything from a config file.
    let dir = tempdir("config");
    let file = dir.join("ami.conf");
    std::fs::write(
        &file,
        format!(
            "# the simulator\nhost = 127.0.0.1\nport = {}\nusername = admin\nsecret = amp111\nmd5 = yes\n",
            sim.addr().port()
        ),
    )
    .unwrap();
    let mut c = bin();
    c.args(["action", "Ping", "--config"]).arg(&file);
    let o = run(c).await;
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("Ping: Pong"));
    std::fs::write(&file, "colour = blue\n").unwrap();
    let mut c = bin();
    c.args(["action", "Ping", "--config"]).arg(&file);
    let o = run(c).await;
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("colour: unknown setting"));
    sim.stop().await;
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "amiwire-cli-test-{name}-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn callfile_is_written_atomically_and_parses_back() {
    let root = tempdir("spool");
    let spool = root.join("outgoing");
    std::fs::create_dir(&spool).unwrap();
    let o = bin()
        .args([
            "callfile",
            "PJSIP/201",
            "--context",
            "from-internal",
            "--exten",
            "902",
            "--callerid",
            "Sales <100>",
            "--var",
            "CAMPAIGN=7",
            "--max-retries",
            "2",
            "--delay",
            "3600",
            "--spool",
        ])
        .arg(&spool)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    let path = PathBuf::from(text(&o.stdout).trim());
    assert_eq!(path.parent().unwrap(), spool);
    let files: Vec<_> = std::fs::read_dir(&spool).unwrap().collect();
    assert_eq!(files.len(), 1);
    // No temporary file left anywhere.
    assert_eq!(std::fs::read_dir(&root).unwrap().count(), 1);
    let body = std::fs::read_to_string(&path).unwrap();
    let cf = amiwire::callfile::CallFile::parse(&body).unwrap();
    assert_eq!(
        cf,
        amiwire::callfile::CallFile::to_extension("PJSIP/201", "from-internal", "902", 1)
            .caller_id("Sales <100>")
            .variable("CAMPAIGN", "7")
            .max_retries(2)
    );
    // Placed an hour from now: the modification time says when.
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    let ahead = mtime.duration_since(std::time::SystemTime::now()).unwrap();
    assert!(ahead > Duration::from_secs(3500), "{ahead:?}");

    // --print writes nothing.
    let o = bin()
        .args([
            "callfile",
            "Local/1@x",
            "--application",
            "Playback",
            "--data",
            "hello",
            "--print",
        ])
        .output()
        .unwrap();
    assert!(o.status.success());
    assert_eq!(
        text(&o.stdout),
        "Channel: Local/1@x\nApplication: Playback\nData: hello\n"
    );
    // A spool that does not exist: status 7.
    let o = bin()
        .args(["callfile", "PJSIP/1", "--exten", "1", "--spool"])
        .arg(root.join("nope"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(7));
    // A channel with a line break would be a second key: refused.
    let o = bin()
        .args([
            "callfile",
            "PJSIP/1\nApplication: System",
            "--exten",
            "1",
            "--print",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stdout));
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn decode_gives_the_golden_output() {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../amiwire/tests/data");
    for name in ["10-pipelined", "04-command"] {
        let o = bin()
            .arg("decode")
            .arg(data.join(format!("{name}.server.bin")))
            .output()
            .unwrap();
        assert!(o.status.success());
        let golden = std::fs::read_to_string(data.join(format!("golden/{name}.jsonl"))).unwrap();
        assert_eq!(text(&o.stdout), golden, "{name}");
    }
    let o = bin()
        .args(["decode", "--count"])
        .arg(data.join("10-pipelined.server.bin"))
        .output()
        .unwrap();
    let n: usize = text(&o.stdout).trim().parse().unwrap();
    assert!(n > 10);
    let o = bin().args(["decode", "/nonexistent"]).output().unwrap();
    assert_eq!(o.status.code(), Some(7));
}

/// `amiwire decode FILE ARGS…`: its standard output, which must be a success.
fn decode_out(file: &std::path::Path, args: &[&str]) -> String {
    let o = bin().arg("decode").args(args).arg(file).output().unwrap();
    assert!(o.status.success(), "{args:?}: {}", text(&o.stderr));
    text(&o.stdout)
}

#[test]
fn decode_output_does_not_depend_on_the_chunk_size() {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../amiwire/tests/data");
    for name in ["10-pipelined", "04-command", "06-event-lists"] {
        let file = data.join(format!("{name}.server.bin"));
        let golden = std::fs::read_to_string(data.join(format!("golden/{name}.jsonl"))).unwrap();
        for chunk in ["1", "2", "7", "64", "4096", "1000000"] {
            let got = decode_out(&file, &["--chunk", chunk]);
            assert_eq!(got, golden, "{name} in {chunk}-byte reads");
        }
        let count = decode_out(&file, &["--count", "--chunk", "3"]);
        assert_eq!(
            count.trim(),
            golden
                .lines()
                .filter(|l| l.starts_with("{\"headers\""))
                .count()
                .to_string()
        );
    }
    for bad in ["0", "-1", "x"] {
        let o = bin()
            .args(["decode", "--chunk", bad])
            .arg(data.join("04-command.server.bin"))
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "--chunk {bad}");
        assert!(o.stdout.is_empty());
    }
}

#[test]
fn decode_no_banner() {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../amiwire/tests/data");
    let file = data.join("10-pipelined.server.bin");
    let golden = std::fs::read_to_string(data.join("golden/10-pipelined.jsonl")).unwrap();
    let golden: Vec<&str> = golden.lines().collect();
    assert_eq!(golden[0], r#"{"banner": "Asterisk Call Manager/11.0.0"}"#);
    // With --no-banner the banner line is the first header of the first message (it has no
    // blank line after it), without a colon; everything after is unchanged.
    for chunk in ["1", "4096"] {
        let got = decode_out(&file, &["--no-banner", "--chunk", chunk]);
        let got: Vec<&str> = got.lines().collect();
        let first = golden[1].replacen(
            r#"{"headers": ["#,
            r#"{"headers": [["", "Asterisk Call Manager/11.0.0"], "#,
            1,
        );
        assert_eq!(got[0], first, "in {chunk}-byte reads");
        assert_eq!(got[1..], golden[2..], "in {chunk}-byte reads");
    }
    // A stream that has no banner decodes the same with and without --no-banner.
    let raw = std::fs::read(&file).unwrap();
    let body = &raw[raw.iter().position(|&b| b == b'\n').unwrap() + 1..];
    assert!(body.starts_with(b"Response: Success\r\n"));
    let dir = tempdir("decode-no-banner");
    let stripped = dir.join("no-banner.bin");
    std::fs::write(&stripped, body).unwrap();
    let want = golden[1..].join("\n") + "\n";
    for args in [
        &["--no-banner"][..],
        &[],
        &["--chunk", "1"],
        &["--no-banner", "--chunk", "1"],
    ] {
        assert_eq!(decode_out(&stripped, args), want, "{args:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_serves_until_stopped() {
    let mut child = Killed(
        bin()
            .args(["sim", "--listen", "127.0.0.1:0"])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut err = BufReader::new(child.0.stderr.take().unwrap());
    let line = tokio::task::spawn_blocking(move || {
        let mut l = String::new();
        err.read_line(&mut l).unwrap();
        l
    })
    .await
    .unwrap();
    let addr = line
        .strip_prefix("amiwire: simulator listening on ")
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("{line}"));
    let port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();
    let cfg = amiwire_tokio::ClientConfig::new("127.0.0.1", port, "admin", "amp111");
    let client = amiwire_tokio::Client::connect(cfg).await.unwrap();
    let r = client.send(amiwire::Action::ping()).await.unwrap();
    assert_eq!(r.get_str("Ping"), Some("Pong"));
    client.close().await;
}

#[test]
fn every_subcommand_has_help_with_examples() {
    for sub in [
        "demo",
        "events",
        "action",
        "command",
        "originate",
        "callfile",
        "decode",
        "sim",
    ] {
        let o = bin().args([sub, "--help"]).output().unwrap();
        assert!(o.status.success(), "{sub}");
        assert!(text(&o.stdout).contains("EXAMPLES:"), "{sub}");
    }
    let o = bin().arg("--help").output().unwrap();
    assert!(text(&o.stdout).contains("EXIT STATUS:"));
}

/// A child process killed when the test ends, even by a failed assertion (it would hold the
/// test's output open).
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
