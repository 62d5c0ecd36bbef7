//! An echo bot: connects to a LIME server as `echo@localhost/bot` and sends every message it
//! receives back to its sender.
//!
//! ```text
//! cargo run -p lime-core --example echo_bot -- [URI] [COUNT]
//! ```
//!
//! `URI` is the server (default `net.tcp://127.0.0.1:55321`, the address of `lime serve`;
//! `ws://…` works too). With `COUNT` the bot finishes its session after echoing that many
//! messages; without it, it runs until the server ends the session or Ctrl-C.
//!
//! Try it with `lime serve` in one terminal, the bot in a second, and in a third:
//!
//! ```text
//! lime client --identity alice@localhost --message hello --to echo@localhost --count 1
//! ```

use std::error::Error;

use lime::{
    channel::{new_id, ChannelEvent, ClientChannel, EstablishOptions},
    transport::{connect, tls::ClientTlsConfig},
    Authentication, Message,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let uri = args.next().unwrap_or_else(|| "net.tcp://127.0.0.1:55321".to_owned());
    let count: Option<usize> = args
        .next()
        .map(|n| n.parse().map_err(|_| format!("COUNT must be a whole number, not {n:?}")))
        .transpose()?;

    // Open the transport and run the handshake: new session, negotiation (the server's first
    // options), guest authentication.
    let transport = connect(&uri, &ClientTlsConfig::default()).await?;
    let channel = ClientChannel::new(transport);
    let identity = "echo@localhost".parse()?;
    let session = channel
        .establish_session(EstablishOptions::new(identity, "bot", Authentication::Guest))
        .await?;
    // The runner script waits for this line before it sends anything.
    println!("echo bot ready as {:?} (session {:?})", channel.local_node(), session.id);

    let mut echoed = 0;
    while count.is_none_or(|n| echoed < n) {
        let event = tokio::select! {
            event = channel.receive() => event,
            _ = tokio::signal::ctrl_c() => break,
        };
        match event {
            Some(ChannelEvent::Message(message)) => {
                // The server fills `from` with the sender's node: answer there, same content.
                let Some(sender) = message.from.clone() else { continue };
                let mut reply = Message { content: message.content.clone(), ..Message::default() }
                    .with_id(new_id())
                    .with_to(sender.clone());
                reply.metadata = message.metadata.clone();
                channel.send_message(reply).await?;
                echoed += 1;
                println!("echoed message {:?} to {sender}", message.id);
            }
            // Notifications (receipts for our echoes) and commands are not for this bot.
            Some(ChannelEvent::Notification(_) | ChannelEvent::Command(_)) => {}
            Some(
                ChannelEvent::Finished(_) | ChannelEvent::Failed(_) | ChannelEvent::Closed { .. },
            )
            | None => {
                println!("the server ended the session after {echoed} echoes");
                return Ok(());
            }
        }
    }
    let end = channel.finish().await?;
    println!("session {}: {echoed} messages echoed", end.state);
    Ok(())
}
