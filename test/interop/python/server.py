"""A python-websockets echo server for test/interop/python-websockets.test.ts.

Usage: python server.py [--no-compression]

Listens on 127.0.0.1, a port the system picks, and prints {"port": N}. Then one JSON line per
event: {"event": "open", ...} with the handshake's extension headers, {"event": "closed", ...} with
the close frames received and sent. It echoes every message, except the text commands
"!ping HEX" (it pings the client and answers "pong <ms>") and "!close CODE REASON" (it closes with
that code and reason). It stops when its stdin closes.
"""

import asyncio
import sys

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

from common import MAX_SIZE, close_frames, emit


async def handler(ws):
    emit({
        "event": "open",
        "path": ws.request.path,
        "offered": ws.request.headers.get("Sec-WebSocket-Extensions", ""),
        "extensions": ws.response.headers.get("Sec-WebSocket-Extensions", ""),
    })
    try:
        async for message in ws:
            if isinstance(message, str) and message.startswith("!ping "):
                pong = await ws.ping(bytes.fromhex(message[6:]))
                await ws.send(f"pong {await pong * 1000:.3f}")
            elif isinstance(message, str) and message.startswith("!close "):
                _, code, reason = message.split(" ", 2)
                await ws.close(int(code), reason)
            else:
                await ws.send(message)
    except ConnectionClosed:
        pass  # reported below, from the close frames themselves
    await ws.wait_closed()
    emit({
        "event": "closed",
        "path": ws.request.path,
        **close_frames(ws),
    })


async def main():
    compression = None if "--no-compression" in sys.argv[1:] else "deflate"
    loop = asyncio.get_running_loop()
    async with serve(handler, "127.0.0.1", 0, compression=compression, max_size=MAX_SIZE) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        emit({"port": port})
        # Until the test closes our stdin (or the process is killed).
        while await loop.run_in_executor(None, sys.stdin.readline) != "":
            pass


asyncio.run(main())
