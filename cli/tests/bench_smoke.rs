//! Smoke test of `lime bench`: every benchmark and the soak run (with counts shrunk by `--quick`) and
//! prints its comparison line; bad counts are refused without a panic.

#![allow(clippy::expect_used, missing_docs)]

use std::process::Command;

#[test]
fn bench_all_quick_prints_every_ratio() {
    let out = Command::new(env!("CARGO_BIN_EXE_lime"))
        .args(["bench", "all", "--quick", "--idle-sessions", "200"])
        .output()
        .expect("runs the lime binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit status {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    for line in [
        "flood ratio: ",
        "rtt WebSocket ratio: ",
        "rtt TCP ratio: ",
        "rtt TCP 1-thread ratio: ",
        "sessions ratio: ",
        "sessions 1-thread ratio: ",
        "memory ratio: ",
        "| benchmark | ours | baseline | ratio | target | met? |",
    ] {
        assert!(stdout.contains(line), "no {line:?} in the output:\n{stdout}\nstderr:\n{stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn zero_counts_are_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_lime"))
        .args(["bench", "flood", "--messages", "0"])
        .output()
        .expect("runs the lime binary");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--messages must be at least 1"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn soak_quick_accounts_for_every_message() {
    let out = Command::new(env!("CARGO_BIN_EXE_lime"))
        .args(["bench", "soak", "--quick"])
        .output()
        .expect("runs the lime binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}", out.status);
    for line in [
        "| unaccounted, no dropped connection involved | 0 |",
        "| delivered more than once | 0 |",
        "| delivered and failed | 0 |",
        "bounded (peak ≤ start + ",
    ] {
        assert!(stdout.contains(line), "no {line:?} in the output:\n{stdout}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}
