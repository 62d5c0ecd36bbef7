"""The Usage example of python/README.md (lime-python's own example), run by test_blip_sdk.py
in the venv that holds only our pip-installed wheel (and blip-sdk).

    python seed.py WS_URI

Prints the response status of ``get /ping`` and the final session state.
"""

import asyncio
import sys

from lime_python import ClientChannel, Command, GuestAuthentication, Message
from lime_transport_websocket import WebSocketTransport


async def main(uri: str) -> None:
    transport = WebSocketTransport()
    await transport.open_async(uri)
    channel = ClientChannel(transport)
    await channel.establish_session_async('none', 'none', 'alice@example.com',
                                          GuestAuthentication(), 'home')
    channel.on_message = lambda message: print('received', message)
    channel.send_message(Message('text/plain', 'Hello!', to='bob@example.com'))
    response = await channel.process_command_async(Command('get', '/ping'), 5)
    print('ping', response.status)
    await channel.send_finishing_session_async()
    print('state', channel.state)


if __name__ == '__main__':
    asyncio.run(asyncio.wait_for(main(sys.argv[1]), 30))
