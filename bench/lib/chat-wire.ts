/**
 * The chat load generator's wire: one user's connection, speaking either the chat's own protocol
 * (seed 004's envelope over a plain WebSocket, `/ws?username=...&room=...`) or Socket.IO 5 over
 * Engine.IO 4's websocket transport without polling (`/socket.io/?EIO=4&transport=websocket`), as
 * raw bytes on the generator's shared read buffer.
 *
 * Built for 250,000 deliveries per second in one process: the frames of a read are scanned where
 * they lie (a frame split across reads is the only thing copied, into a buffer kept per
 * connection), nothing is allocated per frame received, and no envelope is parsed as JSON: each
 * message's `content` starts with a marker, `~t<12 digits: send time, µs>~u<6 digits: sender>~`,
 * found at the same offset in every envelope of a server (learned from the first one; a search
 * only when it moves) and read digit by digit.
 *
 * Socket.IO (https://socket.io/docs/v4/engine-io-protocol/, .../socket-io-protocol/): the server
 * opens with `0{"sid":...,"pingInterval":...}`; the client connects to the main namespace with
 * `40`, the server answers `40{"sid":...}`; events are `42["event",...args]`, and `42<id>[...]`
 * asks for an acknowledgment, answered `43<id>[...]`. The server pings (`2`) every pingInterval
 * and drops a client that does not answer `3` within pingTimeout. A user joins its room with
 * `420["join","room-N"]` (the peer server acknowledges with `430[]`) and sends
 * `42["chat",{"type":"chat","content":"..."}]`.
 */

import type { Socket } from 'node:net';
import { OP, buildFrame, maskedFrame, randomMask, type HandshakeKey } from '../../testkit/index.js';
import { open } from './generator.js';
import type { ChatSpec } from './ipc.js';

// --- Reading frames in place -------------------------------------------------------------------

export interface TextFrameSink {
  /** A complete text frame's payload is buf[start, end): valid only during the call. */
  text(buf: Buffer, start: number, end: number): void;
  /** A control frame (close, ping, pong), its payload copied. */
  control(opcode: number, payload: Buffer): void;
}

/**
 * Unmasked, unfragmented server frames from chunks cut anywhere, handed over where they lie. A
 * frame split across reads is gathered in `carry` (grown as needed, kept for the next one).
 */
export class TextFrameScanner {
  private carry = Buffer.allocUnsafe(512);
  private carried = 0;

  constructor(private readonly sink: TextFrameSink) {}

  push(chunk: Buffer): void {
    const n = chunk.length;
    let i = 0;
    if (this.carried > 0) {
      i = this.complete(chunk);
      if (i < 0) return;
    }
    while (i < n) {
      const available = n - i;
      if (available < 2) return this.keep(chunk, i);
      const length7 = chunk[i + 1]! & 0x7f;
      const header = length7 === 126 ? 4 : length7 === 127 ? 10 : 2;
      if (available < header) return this.keep(chunk, i);
      const length = length7 === 126 ? chunk.readUInt16BE(i + 2) : length7 === 127 ? chunk.readUIntBE(i + 4, 6) : length7;
      if (available < header + length) return this.keep(chunk, i);
      this.frame(chunk, i, header, length);
      i += header + length;
    }
  }

  /** Whether a frame has begun and not ended. */
  get inFrame(): boolean {
    return this.carried > 0;
  }

  private keep(chunk: Buffer, from: number): void {
    const rest = chunk.length - from;
    if (rest > this.carry.length) this.carry = Buffer.allocUnsafe(Math.max(rest, this.carry.length * 2));
    chunk.copy(this.carry, 0, from);
    this.carried = rest;
  }

  /** Completes the carried frame from `chunk`: the offset after it, or -1 when the chunk ran out first. */
  private complete(chunk: Buffer): number {
    const n = chunk.length;
    let i = 0;
    // The header first (2, 4 or 10 bytes: `carry` always has room for it), then the whole frame.
    let total = frameSize(this.carry, this.carried);
    while (total < 0) {
      const take = Math.min(-total - this.carried, n - i);
      chunk.copy(this.carry, this.carried, i, i + take);
      this.carried += take;
      i += take;
      if (this.carried < -total) return -1;
      total = frameSize(this.carry, this.carried);
    }
    if (total > this.carry.length) {
      const bigger = Buffer.allocUnsafe(Math.max(total, this.carry.length * 2));
      this.carry.copy(bigger, 0, 0, this.carried);
      this.carry = bigger;
    }
    const take = Math.min(total - this.carried, n - i);
    chunk.copy(this.carry, this.carried, i, i + take);
    this.carried += take;
    i += take;
    if (this.carried < total) return -1;
    this.carried = 0;
    const header = headerSize(this.carry[1]!);
    this.frame(this.carry, 0, header, total - header);
    return i;
  }

  private frame(buf: Buffer, at: number, header: number, length: number): void {
    const b0 = buf[at]!;
    const opcode = b0 & 0x0f;
    if ((buf[at + 1]! & 0x80) !== 0) throw new Error('the server sent a masked frame (RFC 6455 5.1)');
    if ((b0 & 0x80) === 0 || opcode === OP.CONT) throw new Error('the server fragmented a message (unexpected here)');
    if ((b0 & 0x70) !== 0) throw new Error('the server set an RSV bit (no extension was negotiated)');
    const start = at + header;
    if (opcode === OP.TEXT) this.sink.text(buf, start, start + length);
    else if (opcode >= 0x8) this.sink.control(opcode, Buffer.from(buf.subarray(start, start + length)));
    else throw new Error(`unexpected opcode ${opcode}`);
  }
}

/** A server frame's header size from its second byte (unmasked: 2, 4 or 10). */
function headerSize(b1: number): number {
  const length7 = b1 & 0x7f;
  return length7 === 126 ? 4 : length7 === 127 ? 10 : 2;
}

/**
 * The size of the frame whose first `have` bytes are in `buf`: positive when its header is in, or
 * minus the header's size when it is not.
 */
function frameSize(buf: Buffer, have: number): number {
  if (have < 2) return -2;
  const length7 = buf[1]! & 0x7f;
  const header = headerSize(buf[1]!);
  if (have < header) return -header;
  const length = length7 === 126 ? buf.readUInt16BE(2) : length7 === 127 ? buf.readUIntBE(4, 6) : length7;
  return header + length;
}

// --- Messages ------------------------------------------------------------------------------------

/** `~t` starts every message's content: then 12 digits of send time (µs), `~u`, 6 digits of sender, `~`. */
const MARKER = Buffer.from('~t', 'latin1');
const TIME_DIGITS = 12;
const SENDER_DIGITS = 6;
/** Bytes of the content before its filler: `~t` + time + `~u` + sender + `~`. */
const STAMP = 2 + TIME_DIGITS + 2 + SENDER_DIGITS + 1;
const FILLER = 'Hello everyone! This is a chat message of an ordinary length, as people type them. ';

/** Where the marker was in the last envelope read, from the start of its frame's payload. */
let markerOffset = -1;

/** Offset of the marker in buf[start, end), or -1. */
function findMarker(buf: Buffer, start: number, end: number): number {
  const at = start + markerOffset;
  if (markerOffset >= 0 && at + STAMP <= end && buf[at] === 0x7e && buf[at + 1] === 0x74) return at;
  const found = buf.indexOf(MARKER, start);
  if (found < 0 || found + STAMP > end) return -1;
  markerOffset = found - start;
  return found;
}

function readDigits(buf: Buffer, at: number, count: number): number {
  let value = 0;
  for (let i = 0; i < count; i++) {
    const digit = buf[at + i]! - 0x30;
    if (digit < 0 || digit > 9) throw new Error('a chat message whose content is not the one sent (bad digits)');
    value = value * 10 + digit;
  }
  return value;
}

/** Whether buf[start, end) holds `needle` (an ASCII Buffer). */
function holds(buf: Buffer, start: number, end: number, needle: Buffer): boolean {
  const found = buf.indexOf(needle, start);
  return found >= 0 && found + needle.length <= end;
}

const USER_LIST = Buffer.from('"type":"user_list"', 'latin1');
const ERROR_TYPE = Buffer.from('"type":"error"', 'latin1');

// --- One user ------------------------------------------------------------------------------------

export type ChatProtocol = 'ws' | 'socketio';

export interface ChatListener {
  /**
   * A chat message from user `sender`, sent at `sentUs` (performance.now() in µs), read by
   * `receiver` at `readAt` (ms). `receiver.index === sender`: the sender's own copy, its acknowledgment.
   */
  chat(receiver: ChatUser, sender: number, sentUs: number, readAt: number): void;
  /** The connection broke a rule, or closed while it should not have: fails the run. */
  fail(error: unknown): void;
}

/** Socket.IO's pong: one frame written to every connection as it is (never changed). */
const ENGINE_PONG = maskedFrame(OP.TEXT, '3');
const ENGINE_CONNECT = maskedFrame(OP.TEXT, '40');

export function roomName(room: number): string {
  return `room-${room}`;
}

/** The path of a user's handshake. */
export function chatPath(protocol: ChatProtocol, username: string, room: string): string {
  const who = `username=${username}&userId=${username}`;
  return protocol === 'socketio' ? `/socket.io/?EIO=4&transport=websocket&${who}` : `/ws?${who}&room=${room}`;
}

/**
 * One user's connection. `joined` resolves once the server has it in its room: for the chat,
 * at its `user_list`; for Socket.IO, at the acknowledgment of its `join`.
 */
export class ChatUser implements TextFrameSink {
  readonly scanner = new TextFrameScanner(this);
  /** Socket.IO pings answered. */
  pings = 0;
  /** The Engine.IO open packet's pingInterval and pingTimeout (Socket.IO), ms. */
  heartbeat: { interval: number; timeout: number } | null = null;
  /** Chat messages read, acknowledgments included. */
  received = 0;
  closing = false;
  readonly joined: Promise<void>;

  private state = 0;
  private readAt = 0;
  private resolveJoined!: () => void;
  /** The masked frame of a message, its send time still to be written. */
  private readonly template: Buffer;
  /** Where the time digits are in `template`, and the mask. */
  private readonly timeAt: number;
  private readonly mask: Buffer;
  private readonly maskAt: number;

  constructor(
    readonly socket: Socket,
    readonly protocol: ChatProtocol,
    /** The user's number: its name is `u<index>`, its sender field in every message it sends. */
    readonly index: number,
    readonly room: number,
    readonly roomLabel: string,
    contentSize: number,
    private readonly listener: ChatListener,
  ) {
    this.joined = new Promise((resolve) => (this.resolveJoined = resolve));
    const stamp = `~t${'0'.repeat(TIME_DIGITS)}~u${String(index).padStart(SENDER_DIGITS, '0')}~`;
    if (index >= 10 ** SENDER_DIGITS) throw new Error(`at most ${10 ** SENDER_DIGITS} users`);
    let content = stamp;
    while (content.length < contentSize) content += FILLER;
    content = content.slice(0, Math.max(contentSize, STAMP));
    const json = `{"type":"chat","content":"${content}"}`;
    const payload = Buffer.from(protocol === 'socketio' ? `42["chat",${json}]` : json, 'latin1');
    this.mask = Buffer.from(randomMask());
    this.template = buildFrame({ opcode: OP.TEXT, payload, mask: this.mask });
    const header = this.template.length - payload.length;
    const contentAt = payload.indexOf('~t') + 2;
    this.timeAt = header + contentAt;
    this.maskAt = contentAt; // payload offset of the first digit: its mask byte is mask[maskAt + k & 3]
  }

  /** Hands the connection's bytes to this user: one timestamp per read, then its frames. */
  readonly onData = (chunk: Buffer): void => {
    this.readAt = performance.now();
    try {
      this.scanner.push(chunk);
    } catch (error) {
      this.listener.fail(error);
    }
  };

  /**
   * Starts the protocol after the 101. Socket.IO: the open packet (state 0), the namespace's
   * connect (1), the join's acknowledgment (2). The chat: its user_list (3), the room being the
   * query's. Joined: 10.
   */
  start(): void {
    this.state = this.protocol === 'socketio' ? 0 : 3;
  }

  /** Writes one chat message stamped with `nowUs` (an integer); one small buffer per message. */
  send(nowUs: number): void {
    const frame = Buffer.allocUnsafe(this.template.length);
    this.template.copy(frame);
    let value = nowUs;
    const mask = this.mask;
    for (let k = TIME_DIGITS - 1; k >= 0; k--) {
      const digit = value % 10;
      value = (value - digit) / 10;
      frame[this.timeAt + k] = (0x30 + digit) ^ mask[(this.maskAt + k) & 3]!;
    }
    this.socket.write(frame);
  }

  text(buf: Buffer, start: number, end: number): void {
    if (this.protocol === 'socketio') {
      const type = buf[start];
      if (type === 0x32 /* 2: ping */ && end - start === 1) {
        this.pings++;
        this.socket.write(ENGINE_PONG);
        return;
      }
      if (type !== 0x34 /* 4: message */) {
        if (type === 0x30 /* 0: open */ && this.state === 0) return this.opened(buf.toString('latin1', start + 1, end));
        if (type === 0x31 /* 1: close */) throw new Error('the Socket.IO server closed the session');
        if (type === 0x36 /* 6: noop */) return;
        throw new Error(`unexpected Engine.IO packet ${JSON.stringify(buf.toString('latin1', start, Math.min(end, start + 80)))}`);
      }
      const packet = buf[start + 1];
      if (packet === 0x32 /* 2: event */) return this.message(buf, start, end);
      if (packet === 0x30 /* 0: connect */ && this.state === 1) {
        this.state = 2;
        this.socket.write(maskedFrame(OP.TEXT, `420${JSON.stringify(['join', this.roomLabel])}`));
        return;
      }
      if (packet === 0x33 /* 3: ack */ && this.state === 2 && buf[start + 2] === 0x30 /* id 0 */) {
        this.state = 10;
        this.resolveJoined();
        return;
      }
      throw new Error(`unexpected Socket.IO packet ${JSON.stringify(buf.toString('latin1', start, Math.min(end, start + 80)))}`);
    }
    this.message(buf, start, end);
  }

  control(opcode: number, payload: Buffer): void {
    if (opcode === OP.PING) this.socket.write(maskedFrame(OP.PONG, payload));
    else if (opcode === OP.CLOSE && !this.closing) throw new Error(`the server closed user ${this.index}: ${payload.toString('hex')}`);
  }

  private opened(json: string): void {
    const open = JSON.parse(json) as { pingInterval?: number; pingTimeout?: number };
    this.heartbeat = { interval: open.pingInterval ?? NaN, timeout: open.pingTimeout ?? NaN };
    this.state = 1;
    this.socket.write(ENGINE_CONNECT);
  }

  private message(buf: Buffer, start: number, end: number): void {
    const at = findMarker(buf, start, end);
    if (at < 0) {
      // Not a chat message of ours: presence, the chat's own notices. Rare: searched in full.
      if (this.state !== 10 && holds(buf, start, end, USER_LIST)) {
        this.state = 10;
        this.resolveJoined();
      } else if (holds(buf, start, end, ERROR_TYPE)) {
        throw new Error(`the server answered an error: ${buf.toString('utf8', start, Math.min(end, start + 200))}`);
      }
      return;
    }
    const sentUs = readDigits(buf, at + 2, TIME_DIGITS);
    const sender = readDigits(buf, at + 4 + TIME_DIGITS, SENDER_DIGITS);
    this.received++;
    this.listener.chat(this, sender, sentUs, this.readAt);
  }
}

/** Connects user `index` to its room and resolves once it has joined; the user's socket reads from then on. */
export async function connectUser(
  spec: Pick<ChatSpec, 'host' | 'port' | 'protocol' | 'contentSize'>,
  key: HandshakeKey,
  index: number,
  room: number,
  roomLabel: string,
  listener: ChatListener,
  name = `u${index}`,
  timeoutMs = 30_000,
): Promise<ChatUser> {
  const protocol = spec.protocol;
  if (protocol !== 'ws' && protocol !== 'socketio') throw new Error(`the chat mode speaks ws or socketio, not ${protocol}`);
  const opened = await open(spec as ChatSpec, key, undefined, chatPath(protocol, name, roomLabel));
  const { socket } = opened;
  const user = new ChatUser(socket, protocol, index, room, roomLabel, spec.contentSize, listener);
  let timer: NodeJS.Timeout | undefined;
  const broken = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`user ${name} did not join ${roomLabel} within ${timeoutMs} ms`)), timeoutMs);
    socket.on('error', (error) => {
      reject(error);
      if (!user.closing) listener.fail(error);
    });
    socket.on('close', () => {
      reject(new Error(`the server closed user ${name} before it joined`));
      if (!user.closing) listener.fail(new Error(`the server closed user ${name}`));
    });
  });
  broken.catch(() => {});
  user.start();
  opened.attach(user.onData);
  try {
    await Promise.race([user.joined, broken]);
  } catch (error) {
    user.closing = true;
    socket.destroy();
    throw error;
  } finally {
    clearTimeout(timer);
  }
  return user;
}
