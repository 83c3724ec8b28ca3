//! `--url`: the subcommands over AMI over HTTP, against the simulator's HTTP side, and the
//! usage errors of the option.
mod support;

use std::process::{Command, Output};
use std::time::Duration;

use amiwire_sim::server::{SimConfig, Simulator};

fn bin() -> Command {
    let mut c = support::bin();
    c.env("AMI_USERNAME", "admin")
        .env("AMI_SECRET", "amp111")
        .env("AMI_TIMEOUT", "10");
    c
}

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
    cfg.http_listen = Some(([127, 0, 0, 1], 0).into());
    Simulator::start(cfg).await.unwrap()
}

#[tokio::test]
async fn command_over_each_cookie_and_digest_path() {
    let sim = sim().await;
    let port = sim.http_addr().unwrap().port();
    for path in ["rawman", "mxml", "arawman", "amxml"] {
        let url = format!("http://127.0.0.1:{port}/{path}");
        let mut c = bin();
        c.args(["command", "--url", &url, "core show version"]);
        let out = run(c).await;
        assert!(
            out.status.success(),
            "{path}: {:?} {}",
            out.status,
            text(&out.stderr)
        );
        assert!(
            text(&out.stdout).starts_with("Asterisk 22."),
            "{path}: {}",
            text(&out.stdout)
        );
    }
    sim.stop().await;
}

#[tokio::test]
async fn url_from_the_environment_and_the_config_file() {
    let sim = sim().await;
    let url = format!(
        "http://127.0.0.1:{}/rawman",
        sim.http_addr().unwrap().port()
    );
    let mut c = bin();
    c.env("AMI_URL", &url).args(["action", "Ping", "--json"]);
    let out = run(c).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(r#"["Ping", "Pong"]"#),
        "{}",
        text(&out.stdout)
    );

    let dir = std::env::temp_dir().join(format!("amiwire-url-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("ami.conf");
    std::fs::write(&conf, format!("url = {url}\n")).unwrap();
    let mut c = bin();
    c.args(["action", "Ping", "--config"]).arg(&conf);
    let out = run(c).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let _ = std::fs::remove_dir_all(&dir);
    sim.stop().await;
}

#[tokio::test]
async fn url_with_host_or_port_is_a_usage_error() {
    for extra in [&["--host", "127.0.0.1"][..], &["--port", "5038"][..]] {
        let mut c = bin();
        c.args([
            "command",
            "--url",
            "http://127.0.0.1:1/rawman",
            "core show version",
        ])
        .args(extra);
        let out = run(c).await;
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
        let err = text(&out.stderr);
        assert!(err.contains("--url and --host/--port"), "{err}");
    }
    // From the environment too.
    let mut c = bin();
    c.env("AMI_HOST", "127.0.0.1")
        .args(["command", "--url", "http://127.0.0.1:1/rawman", "x"]);
    assert_eq!(run(c).await.status.code(), Some(2));
    // --tls with an http:// URL.
    let mut c = bin();
    c.args([
        "command",
        "--tls",
        "--url",
        "http://127.0.0.1:1/rawman",
        "x",
    ]);
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("https://"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn bad_urls_are_refused_clearly() {
    for (url, says) in [
        (
            "ftp://127.0.0.1/rawman",
            "must start with http:// or https://",
        ),
        ("http:///rawman", "names no host"),
        ("http://127.0.0.1:99999/rawman", "port"),
        (
            "http://127.0.0.1:8088/static/index.html",
            "rawman, mxml, manager",
        ),
        ("http://127.0.0.1:8088/rawman?action=Ping", "query"),
        (
            "http://admin:Sup3rSecret@127.0.0.1:8088/rawman",
            "user name or password",
        ),
    ] {
        let mut c = bin();
        c.args(["command", "--url", url, "core show version"]);
        let out = run(c).await;
        assert_eq!(out.status.code(), Some(2), "{url}");
        let err = text(&out.stderr);
        assert!(err.starts_with("amiwire: --url: "), "{url}: {err}");
        assert!(err.contains(says), "{url}: {err}");
        assert!(!err.contains("Sup3rSecret"), "{err}");
    }
    // Not ASCII (it used to panic when the scheme was looked at), and TLS options with a
    // plain http:// URL.
    for (args, says) in [
        (&["--url", "http://é/rawman"][..], "--url: "),
        (
            &[
                "--url",
                "http://127.0.0.1:8088/rawman",
                "--tls-server-name",
                "pbx",
            ][..],
            "need an https:// URL",
        ),
    ] {
        let mut c = bin();
        c.arg("command").args(args).arg("core show version");
        let out = run(c).await;
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[tokio::test]
async fn nothing_listening_is_a_connect_error() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let mut c = bin();
    c.args([
        "command",
        "--url",
        &format!("http://127.0.0.1:{port}/rawman"),
        "x",
    ]);
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
}

#[tokio::test]
async fn help_explains_the_paths() {
    let mut c = bin();
    c.args(["command", "--help"]);
    let out = run(c).await;
    let help = text(&out.stdout);
    for word in ["--url", "rawman", "arawman", "Digest", "cookie"] {
        assert!(help.contains(word), "{word}: {help}");
    }
}
