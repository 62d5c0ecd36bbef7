//! The `lime` binary end to end: `lime serve` in one process, clients in others, over TCP,
//! TCP+TLS, WebSocket and WSS; `lime demo`; `lime decode`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::{
    io::{Read, Write},
    path::Path,
    process::{Command, Output, Stdio},
    sync::mpsc,
    thread,
};

use support::{Proc, BIN, T};

/// Runs a command to completion with `input` on its stdin, within the deadline `T`: a child that
/// does not exit in time is killed and the test fails (instead of hanging).
fn output(cmd: &mut Command, input: &[u8]) -> Output {
    let mut child =
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = thread::spawn(move || stdin.write_all(&input)); // stdin closes when done
    let (tx, rx) = mpsc::channel();
    for (index, mut pipe) in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ]
    .into_iter()
    .enumerate()
    {
        let tx = tx.clone();
        thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            let _ = tx.send((index, bytes));
        });
    }
    let deadline = std::time::Instant::now() + T;
    let mut pipes = [Vec::new(), Vec::new()];
    for _ in 0..2 {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok((index, bytes)) => pipes[index] = bytes,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{cmd:?} did not exit within {T:?}");
            }
        }
    }
    let status = child.wait().unwrap();
    let _ = writer.join();
    let [stdout, stderr] = pipes;
    Output { status, stdout, stderr }
}

fn listening(server: &Proc, scheme: &str) -> String {
    let lines = server.wait_for_lines(&format!("listening on {scheme}://"));
    let line = lines.last().unwrap();
    let addr = line.rsplit("://").next().unwrap();
    let port = addr.rsplit(':').next().unwrap();
    format!("{scheme}://localhost:{port}")
}

fn write_certs(dir: &Path) -> (String, String) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::File::create(&cert).unwrap().write_all(ck.cert.pem().as_bytes()).unwrap();
    std::fs::File::create(&key)
        .unwrap()
        .write_all(ck.signing_key.serialize_pem().as_bytes())
        .unwrap();
    (cert.to_string_lossy().into_owned(), key.to_string_lossy().into_owned())
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("lime-cli-test-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// bob listens on `bob_uri`, alice sends from `alice_uri`; both are `lime client` processes.
fn exchange(bob_uri: &str, alice_uri: &str, extra: &[&str]) {
    let mut bob_args = vec![
        "client",
        bob_uri,
        "--identity",
        "bob@localhost",
        "--instance",
        "b",
        "--count",
        "1",
        "--receipts",
    ];
    bob_args.extend_from_slice(extra);
    let bob = Proc::spawn(BIN, &bob_args);
    bob.wait_for_lines("\"state\":\"established\"");
    let mut alice_args = vec![
        "client",
        alice_uri,
        "--identity",
        "alice@localhost",
        "--instance",
        "a",
        "--message",
        "hello bob",
        "--to",
        "bob@localhost/b",
        "--count",
        "1",
    ];
    alice_args.extend_from_slice(extra);
    let alice = Proc::spawn(BIN, &alice_args);
    let (ok, lines) = bob.finish();
    assert!(ok, "bob failed: {lines:#?}");
    assert!(
        lines.iter().any(|l| l.contains("hello bob") && l.contains("alice@localhost/a")),
        "{lines:#?}"
    );
    let (ok, lines) = alice.finish();
    assert!(ok, "alice failed: {lines:#?}");
    // alice's one received envelope is bob's receipt
    assert!(
        lines.iter().any(|l| l.contains("\"event\":\"received\"") && l.contains("bob@localhost/b")),
        "{lines:#?}"
    );
    assert!(lines.last().unwrap().contains("\"state\":\"finished\""), "{lines:#?}");
}

#[test]
fn clients_exchange_messages_over_tcp_and_websocket() {
    let server = Proc::spawn(
        BIN,
        &["serve", "--tcp", "127.0.0.1:0", "--ws", "127.0.0.1:0", "--log-level", "warn"],
    );
    let tcp = listening(&server, "net.tcp");
    let ws = listening(&server, "ws");
    exchange(&tcp, &ws, &[]);
    exchange(&ws, &tcp, &[]);
}

#[test]
fn clients_exchange_messages_over_tcp_tls_and_wss() {
    let dir = temp_dir("tls");
    let (cert, key) = write_certs(&dir);
    let server = Proc::spawn(
        BIN,
        &[
            "serve",
            "--tcp",
            "127.0.0.1:0",
            "--ws",
            "127.0.0.1:0",
            "--cert",
            &cert,
            "--key",
            &key,
            "--wss",
            "--log-level",
            "warn",
        ],
    );
    let tcp = listening(&server, "net.tcp");
    let wss = listening(&server, "wss");
    exchange(&tcp, &wss, &["--ca", &cert, "--encryption", "tls"]);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn command_round_trip_and_ping() {
    let server =
        Proc::spawn(BIN, &["serve", "--tcp", "127.0.0.1:0", "--ws", "off", "--log-level", "warn"]);
    let tcp = listening(&server, "net.tcp");
    let client = Proc::spawn(BIN, &["client", &tcp, "--command", "get /ping"]);
    let (ok, lines) = client.finish();
    assert!(ok, "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"status\":\"success\"") && l.contains("vnd.lime.ping+json")),
        "{lines:#?}"
    );
}

#[test]
fn wrong_password_is_reported() {
    let dir = temp_dir("users");
    let users = dir.join("users.txt");
    std::fs::write(&users, "alice@localhost plain wonderland\n").unwrap();
    let server = Proc::spawn(
        BIN,
        &[
            "serve",
            "--tcp",
            "127.0.0.1:0",
            "--ws",
            "off",
            "--auth",
            "plain",
            "--users",
            users.to_str().unwrap(),
            "--log-level",
            "warn",
        ],
    );
    let tcp = listening(&server, "net.tcp");
    let out = output(
        Command::new(BIN).args([
            "client",
            &tcp,
            "--identity",
            "alice@localhost",
            "--password",
            "nope",
        ]),
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Code 13"), "{stderr}");
    let out = output(
        Command::new(BIN).args([
            "client",
            &tcp,
            "--identity",
            "alice@localhost",
            "--password",
            "wonderland",
        ]),
        b"",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn serve_reports_bad_flags_clearly() {
    let out = output(Command::new(BIN).args(["serve", "--tcp", "off", "--ws", "off"]), b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to listen on"));
    // loopback ports only: if the check regressed, the server would start (and be killed at the
    // deadline) instead of binding a fixed port
    let out = output(
        Command::new(BIN).args([
            "serve",
            "--auth",
            "plain",
            "--tcp",
            "127.0.0.1:0",
            "--ws",
            "127.0.0.1:0",
        ]),
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--users"));
}

#[test]
fn demo_runs_to_completion() {
    let out = output(Command::new(BIN).arg("demo"), b"");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for expected in [
        "\"encryptionOptions\":[\"none\",\"tls\"]",
        "(now inside TLS)",
        "\"state\":\"established\"",
        "\"event\":\"received\"",
        "\"resource\":\"available\"",
        "\"state\":\"finished\"",
        "lime demo: done",
    ] {
        assert!(stdout.contains(expected), "missing {expected}:\n{stdout}");
    }
}

#[test]
fn decode_prints_canonical_lines_and_fails_with_an_offset() {
    let out = output(
        Command::new(BIN).arg("decode"),
        br#"{"state":"new"}{"id":"1","to":"a@b/c","type":"text/plain","content":"hi"} {"id":"#,
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "{\"state\":\"new\"}\n{\"type\":\"text/plain\",\"content\":\"hi\",\"id\":\"1\",\"to\":\"a@b/c\"}\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("byte offset 74"));
}
