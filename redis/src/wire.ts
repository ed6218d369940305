/**
 * How a message travels through Redis, and how a stream keeps it. Bytes, encoded once per message:
 *
 *   entry   = <header JSON> "\n" <payload bytes>                      (a stream entry's field `m`)
 *   message = <position> "\n" <entry>                                  (what a channel carries)
 *   position = "" for a publish() | <epoch> ":" <offset> for an append (written by the Lua script)
 *   header  = {"n": node id, "o": opcode, "k"?: conflation key, "x"?: except (a connection id)}
 *
 * The payload is never escaped or copied into JSON: the header ends at the first newline (JSON
 * text from JSON.stringify never holds a raw one), the payload is whatever follows. The topic is
 * not on the wire: the channel names it. The node id lets a node drop its own publishes (it
 * delivered them itself); stream messages go to every node, the appender's included.
 */

import type { BrokerMessage, StreamPosition } from 'rfc6455/hub';

const NEWLINE = 0x0a;

interface Header {
  readonly n: string;
  readonly o: 1 | 2;
  readonly k?: string;
  readonly x?: string;
}

/** The stream entry (and, after a position line, the wire message) of `message`. */
export function encodeEntry(message: BrokerMessage, node: string): Buffer {
  const header: Header = {
    n: node,
    o: message.opcode,
    ...(message.key === undefined ? {} : { k: message.key }),
    ...(message.except === undefined ? {} : { x: message.except }),
  };
  return Buffer.concat([Buffer.from(`${JSON.stringify(header)}\n`), message.payload]);
}

/** A publish() as it goes on the channel: no position. */
export function encodePublish(message: BrokerMessage, node: string): Buffer {
  return Buffer.concat([Buffer.from('\n'), encodeEntry(message, node)]);
}

export interface Decoded {
  readonly message: BrokerMessage;
  /** The node that published or appended it. */
  readonly node: string;
}

/** Decodes a stream entry of `topic` at `position`; throws on bytes this module did not write. */
export function decodeEntry(topic: string, position: StreamPosition | undefined, entry: Buffer): Decoded {
  const end = entry.indexOf(NEWLINE);
  if (end === -1) throw new Error('a message without a header');
  const header = JSON.parse(entry.subarray(0, end).toString()) as Partial<Header> | null;
  if (
    typeof header !== 'object' ||
    header === null ||
    typeof header.n !== 'string' ||
    (header.o !== 1 && header.o !== 2) ||
    (header.k !== undefined && typeof header.k !== 'string') ||
    (header.x !== undefined && typeof header.x !== 'string')
  ) {
    throw new Error('a message with a malformed header');
  }
  const message: BrokerMessage = {
    topic,
    payload: entry.subarray(end + 1),
    opcode: header.o,
    key: header.k,
    ...(position === undefined ? {} : { position }),
    ...(header.x === undefined ? {} : { except: header.x }),
  };
  return { message, node: header.n };
}

/** Decodes a message from the topic's channel. */
export function decodeMessage(topic: string, bytes: Buffer): Decoded {
  const end = bytes.indexOf(NEWLINE);
  if (end === -1) throw new Error('a message without a position line');
  return decodeEntry(topic, end === 0 ? undefined : parsePosition(bytes.subarray(0, end).toString()), bytes.subarray(end + 1));
}

function parsePosition(text: string): StreamPosition {
  const match = /^([A-Za-z0-9]+):([1-9][0-9]*)$/.exec(text);
  if (match === null) throw new Error(`a malformed stream position ${JSON.stringify(text)}`);
  return { epoch: match[1]!, offset: Number(match[2]) };
}
