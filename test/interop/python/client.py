"""A python-websockets client driven by test/interop/python-websockets.test.ts.

Usage: python client.py URL [--no-compression]

Prints one JSON line when connected ({"ok": "open", ...}), then reads one JSON command per line on
stdin and answers each with one JSON line on stdout (the protocol of test/interop/scripted.ts).
"""

import asyncio
import hashlib
import json
import os
import sys

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from common import MAX_SIZE, close_frames, emit


def closed(ws):
    return {"ok": "closed", **close_frames(ws)}


def describe(message):
    if isinstance(message, str):
        return {"ok": "message", "type": "text", "data": message} if len(message) <= 4096 else {
            "ok": "message",
            "type": "text",
            "size": len(message.encode()),
            "sha256": hashlib.sha256(message.encode()).hexdigest(),
        }
    out = {"ok": "message", "type": "binary", "size": len(message), "sha256": hashlib.sha256(message).hexdigest()}
    if len(message) <= 4096:
        out["hex"] = message.hex()
    return out


async def run(ws, command):
    op = command["op"]
    if op == "text":
        await ws.send(command["data"] * command.get("repeat", 1))
        return {"ok": "sent"}
    if op == "binary":
        await ws.send(bytes.fromhex(command["hex"]))
        return {"ok": "sent"}
    if op == "random":
        data = os.urandom(command["size"])
        await ws.send(data)
        return {"ok": "sent", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    if op == "recv":
        try:
            return describe(await ws.recv())
        except ConnectionClosed:
            return closed(ws)
    if op == "ping":
        pong = await ws.ping(bytes.fromhex(command["hex"]))
        latency = await pong
        return {"ok": "pong", "latency": latency * 1000}
    if op == "close":
        await ws.close(command["code"], command["reason"])
        return closed(ws)
    if op == "wait_closed":
        await ws.wait_closed()
        return closed(ws)
    return {"error": f"unknown op {op}"}


async def main():
    url = sys.argv[1]
    compression = None if "--no-compression" in sys.argv[2:] else "deflate"
    loop = asyncio.get_running_loop()
    async with connect(url, compression=compression, max_size=MAX_SIZE) as ws:
        emit({"ok": "open", "extensions": ws.response.headers.get("Sec-WebSocket-Extensions", "")})
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if line == "":
                break
            emit(await run(ws, json.loads(line)))


asyncio.run(main())
