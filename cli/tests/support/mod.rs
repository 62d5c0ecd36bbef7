//! Shared by the `lime serve` process tests: a child process killed on drop whose stdout lines
//! arrive through a channel, and LIME clients with bounded waits.

#![allow(dead_code, unreachable_pub)]

use std::{
    future::Future,
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::mpsc,
    thread,
    time::Duration,
};

use lime::{
    channel::{ChannelEvent, ClientOptions, EstablishOptions},
    transport::tls::ClientTlsConfig,
    Authentication, Client, Error, Session,
};

pub const BIN: &str = env!("CARGO_BIN_EXE_lime");
/// The bound of every wait.
pub const T: Duration = Duration::from_secs(20);

pub async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(T, f).await.expect("timed out")
}

/// A child process killed on drop, its stdout lines delivered through a channel.
pub struct Proc {
    pub child: Child,
    lines: mpsc::Receiver<String>,
}

impl Proc {
    pub fn spawn(program: &str, args: &[&str]) -> Self {
        Self::spawn_reading(program, args, false)
    }

    /// Like [`Proc::spawn`], reading standard error instead of standard output when `stderr`.
    pub fn spawn_reading(program: &str, args: &[&str], stderr: bool) -> Self {
        let mut command = Command::new(program);
        command.args(args);
        if stderr {
            command.stdout(Stdio::null()).stderr(Stdio::piped());
        } else {
            command.stdout(Stdio::piped()).stderr(Stdio::inherit());
        }
        let mut child = command.spawn().unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
        let stdout: Box<dyn std::io::Read + Send> = if stderr {
            Box::new(child.stderr.take().unwrap())
        } else {
            Box::new(child.stdout.take().unwrap())
        };
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    /// The next line containing `needle`.
    pub fn wait_for_text(&self, needle: &str) -> String {
        let mut lines = self.wait_for_lines(needle);
        // wait_for_lines returns only once the last line contains `needle`.
        lines.pop().unwrap_or_default()
    }

    /// Kills the process at once (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The lines up to and including the next one containing `needle`, in order.
    pub fn wait_for_lines(&self, needle: &str) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            let line = self
                .lines
                .recv_timeout(T)
                .unwrap_or_else(|_| panic!("no line with {needle:?}; saw {seen:#?}"));
            let done = line.contains(needle);
            seen.push(line);
            if done {
                return seen;
            }
        }
    }

    /// Collects the lines until the process closes its output (it exits), then whether it
    /// exited successfully.
    pub fn finish(mut self) -> (bool, Vec<String>) {
        let deadline = std::time::Instant::now() + T;
        let mut lines = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => lines.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("process did not exit in time; output {lines:#?}")
                }
            }
        }
        let status = self.child.wait().unwrap();
        (status.success(), lines)
    }

    /// The text after `prefix` on the next stdout line starting with it.
    pub fn wait_for(&self, prefix: &str) -> String {
        let mut seen = Vec::new();
        loop {
            let line = self
                .lines
                .recv_timeout(T)
                .unwrap_or_else(|_| panic!("no line starting with {prefix:?}; saw {seen:#?}"));
            if let Some(rest) = line.strip_prefix(prefix) {
                return rest.to_owned();
            }
            seen.push(line);
        }
    }

    /// Sends SIGTERM (a graceful stop) and waits for the exit, bounded.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = std::time::Instant::now() + T;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(std::time::Instant::now() < deadline, "process {pid} did not stop on SIGTERM");
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `lime serve` on free loopback ports (TCP only) with `extra` flags; returns the process and
/// its TCP address.
pub fn serve(extra: &[&str]) -> (Proc, String) {
    let mut args = vec!["serve", "--tcp", "127.0.0.1:0", "--ws", "off", "--log-level", "warn"];
    args.extend_from_slice(extra);
    let p = Proc::spawn(BIN, &args);
    let addr = p.wait_for("lime serve: listening on net.tcp://");
    (p, addr)
}

/// A guest client of `name@localhost/instance` established on the server at `addr`.
pub async fn client(addr: &str, name: &str, instance: &str) -> Result<(Client, Session), Error> {
    let uri = format!("net.tcp://{addr}");
    let c =
        within(Client::connect(&uri, ClientTlsConfig::default(), ClientOptions::default())).await?;
    let identity = format!("{name}@localhost").parse().expect("identity");
    let session = within(c.establish_session(EstablishOptions::new(
        identity,
        instance,
        Authentication::Guest,
    )))
    .await?;
    Ok((c, session))
}

/// The next message's text, skipping other events.
pub async fn next_text(events: &mut lime::client::Subscription) -> String {
    loop {
        match within(events.next()).await {
            Some(ChannelEvent::Message(m)) => {
                return m.content.as_ref().and_then(|c| c.as_text()).unwrap_or("").to_owned()
            }
            Some(_) => {}
            None => panic!("the session ended while waiting for a message"),
        }
    }
}

/// The reason code of the next `failed` notification with id `id`, skipping other events.
pub async fn next_failed(events: &mut lime::client::Subscription, id: &str) -> i32 {
    loop {
        match within(events.next()).await {
            Some(ChannelEvent::Notification(n))
                if n.id.as_deref() == Some(id) && n.event == lime::NotificationEvent::Failed =>
            {
                return n.reason.map_or(0, |r| r.code)
            }
            Some(_) => {}
            None => panic!("the session ended while waiting for failed {id}"),
        }
    }
}

/// `GET path` over HTTP/1.1 at `addr`: the status code and the body.
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).expect("a status code");
    (status, body.to_owned())
}

/// Parses Prometheus text exposition into `(series with labels, value)`, checking that every
/// sample's family was declared with `# TYPE` first.
pub fn parse_prometheus(text: &str) -> std::collections::HashMap<String, f64> {
    let mut types = std::collections::HashMap::new();
    let mut samples = std::collections::HashMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            types.insert(name.to_owned(), kind.to_owned());
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("series value");
        let name = series.split('{').next().unwrap_or(series);
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| types.contains_key(*f)))
            .unwrap_or(name);
        assert!(types.contains_key(family), "{name} has no # TYPE line");
        samples.insert(series.to_owned(), value.parse().expect("a number"));
    }
    samples
}
