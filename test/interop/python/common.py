"""What client.py and server.py share: the message size limit and the JSON lines they print."""

import json
import sys

# Incoming messages up to 32 MiB (the default is 1 MiB; the tests send 16 MiB).
MAX_SIZE = 32 * 1024 * 1024


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def close_frame(close):
    return None if close is None else {"code": close.code, "reason": close.reason}


def close_frames(ws):
    """The close frames as the connection saw them: the one received and the one sent."""
    return {"received": close_frame(ws.protocol.close_rcvd), "sent": close_frame(ws.protocol.close_sent)}
