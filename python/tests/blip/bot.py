"""A blip-sdk 1.0.4 bot on our lime-python, run by test_blip_sdk.py inside a venv that holds only
our wheel and what `pip install blip-sdk==1.0.4` added.

    python bot.py WS_PORT DOMAIN BOT_NAME BOT_KEY_BASE64

The bot is built the way blip-sdk's README builds one (``ClientBuilder``, key authentication,
``with_scheme('ws')``, our ``WebSocketTransport`` as the transport factory); ``connect_async``
establishes the session and sends blip-sdk's ``set /presence`` and ``set /receipt`` commands.
Its message receiver answers every text message to its sender. A second client (a guest, on
lime_python directly) sends it one message and waits for the answer and blip-sdk's receipts.
Every wait is bounded; the script prints one JSON object with what it saw and exits 0, or
exits non-zero with the error.
"""

import asyncio
import json
import sys

WAIT = 15  # seconds, for each awaited event


async def main(port: int, domain: str, name: str, key: str) -> dict:
    import humps  # noqa: F401 (blip-sdk imports it; it must come with our wheel)
    from blip_sdk import ClientBuilder, Receiver
    from lime_python import (ClientChannel, GuestAuthentication, Message,
                             NotificationEvent)
    from lime_transport_websocket import WebSocketTransport

    report = {}
    loop = asyncio.get_running_loop()

    # --- the blip-sdk bot ------------------------------------------------------------------
    client = (
        ClientBuilder()
        .with_identifier(name)
        .with_domain(domain)
        .with_hostname('127.0.0.1')
        .with_port(port)
        .with_scheme('ws')
        .with_instance('bot')
        .with_access_key(key)
        .with_transport_factory(lambda: WebSocketTransport())
        .build()
    )
    answered = []

    def answer(message):
        answered.append(message.content)
        client.send_message(Message('text/plain', f'echo: {message.content}', to=message.from_n))

    client.add_message_receiver(Receiver(lambda message: message.type_n == 'text/plain', answer))

    # blip-sdk's connect_async awaits its presence and receipt commands: record their
    # responses by watching what the channel's process_command_async returns.
    responses = {}
    process = client.client_channel.process_command_async

    async def recording(command, timeout):
        response = await process(command, timeout)
        responses[command.uri] = {'status': response.status,
                                  'reason': getattr(response.reason, 'code', None)}
        return response

    client.client_channel.process_command_async = recording
    session = await asyncio.wait_for(client.connect_async(), WAIT)
    report['bot_session'] = session.state
    report['bot_node'] = client.client_channel.local_node
    report['commands'] = responses
    report['listening'] = client.listening

    # --- the other client: a guest that talks to the bot ----------------------------------
    transport = WebSocketTransport()
    await asyncio.wait_for(transport.open_async(f'ws://127.0.0.1:{port}'), WAIT)
    guest = ClientChannel(transport)
    reply = loop.create_future()
    receipts = {}
    all_receipts = loop.create_future()

    def on_message(message):
        if not reply.done():
            reply.set_result(message)

    def on_notification(notification):
        receipts[notification.event] = notification.id
        if {NotificationEvent.RECEIVED, NotificationEvent.CONSUMED} <= set(receipts) \
                and not all_receipts.done():
            all_receipts.set_result(None)

    guest.on_message = on_message
    guest.on_notification = on_notification
    await asyncio.wait_for(guest.establish_session_async(
        'none', 'none', f'visitor@{domain}', GuestAuthentication(), 'home'), WAIT)
    sent = Message('text/plain', 'hello bot', to=f'{name}@{domain}')
    guest.send_message(sent)
    answer_message = await asyncio.wait_for(reply, WAIT)
    await asyncio.wait_for(all_receipts, WAIT)
    report['answered'] = answered
    report['reply'] = {'content': answer_message.content, 'from': answer_message.from_n,
                       'to': answer_message.to, 'type': answer_message.type_n}
    report['receipts'] = {event: envelope_id == sent.id for event, envelope_id in receipts.items()}

    # --- both leave ------------------------------------------------------------------------
    finished = await asyncio.wait_for(client.close_async(), WAIT)
    report['bot_finished'] = finished.state
    finished = await asyncio.wait_for(guest.send_finishing_session_async(), WAIT)
    report['guest_finished'] = finished.state
    return report


if __name__ == '__main__':
    port, domain, name, key = sys.argv[1:5]
    result = asyncio.run(asyncio.wait_for(main(int(port), domain, name, key), 4 * WAIT))
    print(json.dumps(result))
