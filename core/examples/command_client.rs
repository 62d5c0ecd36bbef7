//! A client doing a command round trip with a deadline: `get /ping` (or another resource) to
//! the server or to another node, waiting at most a few seconds for the response.
//!
//! ```text
//! cargo run -p lime-core --example command_client -- [URI] [TO] [PATH] [--timeout SECS]
//! ```
//!
//! `URI` defaults to `net.tcp://127.0.0.1:55321` (`lime serve`), `TO` to the server itself
//! (`-` also means the server), `PATH` to `/ping`, the deadline to 5 seconds. Exit status: 0
//! for a `success` response, 1 for a `failure` response or an error, 2 when no response
//! arrived in time.
//!
//! Against the `echo_bot` example, `TO=echo@localhost/bot` gets an answer (its channel replies
//! to pings by itself) while `PATH=/status` does not (the bot ignores commands): that is the
//! timeout case.

use std::{error::Error, process::ExitCode, time::Duration};

use lime::{
    channel::{ClientChannel, EstablishOptions},
    transport::{connect, tls::ClientTlsConfig},
    Authentication, Command, CommandMethod, CommandStatus, Node,
};

struct Args {
    uri: String,
    to: Option<Node>,
    path: String,
    limit: Duration,
}

fn parse_args() -> Result<Args, Box<dyn Error>> {
    let mut positional = Vec::new();
    let mut limit = Duration::from_secs(5);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--timeout" {
            let secs = args.next().ok_or("--timeout needs a number of seconds")?;
            limit = secs
                .parse::<f64>()
                .ok()
                .and_then(|s| Duration::try_from_secs_f64(s).ok())
                .ok_or_else(|| format!("--timeout takes seconds, not {secs:?}"))?;
        } else {
            positional.push(arg);
        }
    }
    let mut positional = positional.into_iter();
    let uri = positional.next().unwrap_or_else(|| "net.tcp://127.0.0.1:55321".to_owned());
    let to = match positional.next().as_deref() {
        None | Some("-") => None,
        Some(node) => Some(node.parse()?),
    };
    let path = positional.next().unwrap_or_else(|| "/ping".to_owned());
    if let Some(extra) = positional.next() {
        return Err(format!("unexpected argument {extra:?}").into());
    }
    Ok(Args { uri, to, path, limit })
}

async fn run(args: Args) -> Result<ExitCode, Box<dyn Error>> {
    let transport = connect(&args.uri, &ClientTlsConfig::default()).await?;
    let channel = ClientChannel::new(transport);
    channel
        .establish_session(EstablishOptions::new(
            "commander@localhost".parse()?,
            "example",
            Authentication::Guest,
        ))
        .await?;

    // A request without `to` goes to the remote party, here the server. The channel gives it
    // an id and correlates the response with it.
    let mut request = Command::request(CommandMethod::Get, args.path.parse()?);
    request.to = args.to.clone();
    let target = args.to.as_ref().map_or_else(|| "the server".to_owned(), ToString::to_string);
    let started = std::time::Instant::now();
    let code = match channel.process_command(request, args.limit).await {
        Ok(response) if response.status == CommandStatus::Success => {
            let kind = response.resource.as_ref().map(|r| r.media_type().to_string());
            println!(
                "get {} to {target}: success in {:?}, resource type {kind:?}",
                args.path,
                started.elapsed()
            );
            ExitCode::SUCCESS
        }
        Ok(response) => {
            // A `failure` response: the reason says why (e.g. 42, the destination is unknown).
            println!("get {} to {target}: failure, reason {:?}", args.path, response.reason);
            ExitCode::from(1)
        }
        Err(lime::Error::Timeout(limit)) => {
            // The pending command was dropped; a late response would arrive as an ordinary
            // `ChannelEvent::Command`.
            println!("get {} to {target}: timed out, no response within {limit:?}", args.path);
            ExitCode::from(2)
        }
        Err(e) => return Err(e.into()),
    };
    channel.finish().await?;
    Ok(code)
}

#[tokio::main]
async fn main() -> ExitCode {
    let result = match parse_args() {
        Ok(args) => run(args).await,
        Err(e) => Err(e),
    };
    result.unwrap_or_else(|e| {
        eprintln!("command_client: {e}");
        ExitCode::from(1)
    })
}
