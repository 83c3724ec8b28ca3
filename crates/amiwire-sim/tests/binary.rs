//! The `amiwire-sim` binary: help, argument errors, and a real run with its config files.
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_amiwire-sim"))
}

#[test]
fn help_and_bad_arguments() {
    let out = bin().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("--accounts") && text.contains("EXAMPLES"));
    let out = bin().arg("--bogus").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown argument"));
    let out = bin()
        .args(["--accounts", "/nonexistent/manager.conf"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/manager.conf"));
}

#[test]
fn runs_with_the_config_files_of_the_recorded_asterisk() {
    let etc = concat!(env!("CARGO_MANIFEST_DIR"), "/etc");
    let mut child = bin()
        .args([
            "--listen",
            "127.0.0.1:0",
            "--accounts",
            &format!("{etc}/manager.conf"),
            "--dialplan",
            &format!("{etc}/extensions.conf"),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line.trim().rsplit(' ').next().unwrap().to_owned();
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"Action: Login\r\nUsername: limited\r\nSecret: limited\r\nEvents: off\r\n\r\nAction: Logoff\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    let _ = child.kill();
    let _ = child.wait();
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("Asterisk Call Manager/11.0.0\r\n"),
        "{text}"
    );
    assert!(text.contains("Message: Authentication accepted"), "{text}");
    assert!(text.contains("Response: Goodbye"), "{text}");
}

#[test]
fn queues_file_and_http_listener() {
    let dir = std::env::temp_dir().join(format!("amiwire-sim-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let queues = dir.join("queues.conf");
    std::fs::write(
        &queues,
        "[general]\n\n[sales]\nstrategy = ringall\nmember => Local/300@test\n",
    )
    .unwrap();
    let mut child = bin()
        .args([
            "--listen",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--queues",
        ])
        .arg(&queues)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let (mut tcp, mut http) = (String::new(), String::new());
    out.read_line(&mut tcp).unwrap();
    out.read_line(&mut http).unwrap();
    let addr = tcp.trim().rsplit(' ').next().unwrap().to_owned();
    assert!(
        http.starts_with("amiwire-sim serving AMI over HTTP on http://127.0.0.1:"),
        "{http}"
    );
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"Action: Login\r\nUsername: admin\r\nSecret: amp111\r\nEvents: off\r\n\r\nAction: QueueSummary\r\nActionID: q\r\n\r\nAction: Logoff\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.contains("Event: QueueSummary\r\nQueue: sales\r\n"),
        "{text}"
    );
    assert!(!text.contains("Queue: support"), "{text}");
}
