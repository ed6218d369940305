/**
 * The load generator's side of the wire: client handshakes, pre-built masked frames, and an
 * incremental parser for what comes back. Written against RFC 6455 directly, sharing nothing with
 * the library under test, so that it is neutral to every server.
 */

import { createHash, randomBytes } from 'node:crypto';
import { deflateRawSync, constants as zlibConstants } from 'node:zlib';

export const OPCODE_CONTINUATION = 0x0;
export const OPCODE_TEXT = 0x1;
export const OPCODE_BINARY = 0x2;
export const OPCODE_CLOSE = 0x8;
export const OPCODE_PING = 0x9;
export const OPCODE_PONG = 0xa;

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** The 4 bytes a permessage-deflate sender strips from the end of each message (RFC 7692 7.2.1). */
export const DEFLATE_TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

export interface FrameOptions {
  /** Sets RSV1: the payload is compressed (permessage-deflate). */
  readonly rsv1?: boolean;
  /** The masking key; random when not given. */
  readonly maskKey?: Buffer;
}

/** One complete masked client frame (FIN set) carrying `payload`. */
export function buildMaskedFrame(opcode: number, payload: Buffer, options: FrameOptions = {}): Buffer {
  const length = payload.length;
  const lengthBytes = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const header = 2 + lengthBytes + 4;
  const frame = Buffer.allocUnsafe(header + length);
  frame[0] = 0x80 | (options.rsv1 === true ? 0x40 : 0) | opcode;
  if (lengthBytes === 0) frame[1] = 0x80 | length;
  else if (lengthBytes === 2) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  const key = options.maskKey ?? randomBytes(4);
  key.copy(frame, header - 4);
  for (let i = 0; i < length; i++) frame[header + i] = payload[i]! ^ key[i & 3]!;
  return frame;
}

/** A masked close frame with status code 1000. */
export function buildCloseFrame(): Buffer {
  const payload = Buffer.alloc(2);
  payload.writeUInt16BE(1000, 0);
  return buildMaskedFrame(OPCODE_CLOSE, payload);
}

/** `copies` copies of `frame` back to back, so that n frames go out in one write (a subarray). */
export function repeatFrame(frame: Buffer, copies: number): Buffer {
  const out = Buffer.allocUnsafe(frame.length * copies);
  for (let i = 0; i < copies; i++) frame.copy(out, i * frame.length);
  return out;
}

/**
 * A message compressed the way a permessage-deflate client without context takeover sends it:
 * raw DEFLATE, sync-flushed, the 00 00 ff ff tail removed. Without context takeover every message
 * compresses alone, so the result can be computed once and sent any number of times.
 */
export function compressMessage(payload: Buffer, windowBits: number): Buffer {
  const compressed = deflateRawSync(payload, {
    // zlib cannot honour a window of 8 for raw deflate (it would use 9, too large for such a peer):
    // neither server asks for it, so checkWindowBits refuses it loudly rather than break the limit.
    windowBits: checkWindowBits(windowBits),
    finishFlush: zlibConstants.Z_SYNC_FLUSH,
  });
  if (!compressed.subarray(compressed.length - 4).equals(DEFLATE_TAIL)) {
    throw new Error('deflateRawSync with Z_SYNC_FLUSH did not end with 00 00 ff ff');
  }
  return compressed.subarray(0, compressed.length - 4);
}

function checkWindowBits(bits: number): number {
  if (!Number.isInteger(bits) || bits < 9 || bits > 15) {
    throw new Error(`unsupported client_max_window_bits ${bits} (the generator compresses with 9 to 15)`);
  }
  return bits;
}

// --- Handshake ---------------------------------------------------------------------------------

export interface HandshakeKey {
  readonly key: string;
  readonly accept: string;
}

/** Keys with their expected Sec-WebSocket-Accept, computed up front: no SHA-1 on the hot path. */
export function makeKeyPool(size: number): HandshakeKey[] {
  const pool: HandshakeKey[] = [];
  for (let i = 0; i < size; i++) {
    const key = randomBytes(16).toString('base64');
    const accept = createHash('sha1').update(key + GUID).digest('base64');
    pool.push({ key, accept });
  }
  return pool;
}

export function buildUpgradeRequest(host: string, port: number, key: string, extensions?: string): Buffer {
  let request =
    `GET / HTTP/1.1\r\n` +
    `Host: ${host}:${port}\r\n` +
    `Upgrade: websocket\r\n` +
    `Connection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${key}\r\n` +
    `Sec-WebSocket-Version: 13\r\n`;
  if (extensions !== undefined) request += `Sec-WebSocket-Extensions: ${extensions}\r\n`;
  return Buffer.from(request + '\r\n', 'latin1');
}

export interface UpgradeResponse {
  /** Sec-WebSocket-Extensions of the 101, if any. */
  readonly extensions: string | undefined;
  /** Bytes after the response head: the first frames. */
  readonly rest: Buffer;
}

const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');

/**
 * Parses the server's answer once `received` holds the whole head; returns null while it does not.
 * Throws unless it is a 101 with the right Sec-WebSocket-Accept.
 */
export function parseUpgradeResponse(received: Buffer, accept: string): UpgradeResponse | null {
  const end = received.indexOf(HEAD_END);
  if (end < 0) {
    if (received.length > 16384) throw new Error('handshake response head larger than 16 KiB');
    return null;
  }
  const lines = received.toString('latin1', 0, end).split('\r\n');
  const status = lines[0] ?? '';
  if (!/^HTTP\/1\.1 101 /.test(status)) throw new Error(`handshake refused: ${status}`);
  let gotAccept: string | undefined;
  let extensions: string | undefined;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'sec-websocket-accept') gotAccept = value;
    else if (name === 'sec-websocket-extensions') extensions = extensions === undefined ? value : `${extensions}, ${value}`;
  }
  if (gotAccept !== accept) throw new Error(`bad Sec-WebSocket-Accept ${JSON.stringify(gotAccept)}`);
  return { extensions, rest: received.subarray(end + 4) };
}

export interface DeflateAgreement {
  readonly serverNoContextTakeover: boolean;
  readonly clientNoContextTakeover: boolean;
  readonly serverMaxWindowBits: number;
  readonly clientMaxWindowBits: number;
}

/** The permessage-deflate parameters a server accepted, or null when it declined the extension. */
export function parseDeflateResponse(header: string | undefined): DeflateAgreement | null {
  if (header === undefined) return null;
  for (const extension of header.split(',')) {
    const [name, ...params] = extension.split(';').map((part) => part.trim());
    if (name !== 'permessage-deflate') continue;
    let serverNoContextTakeover = false;
    let clientNoContextTakeover = false;
    let serverMaxWindowBits = 15;
    let clientMaxWindowBits = 15;
    for (const param of params) {
      const [key, raw] = param.split('=').map((part) => part.trim());
      const value = raw === undefined ? undefined : Number(raw.replace(/^"|"$/g, ''));
      if (key === 'server_no_context_takeover') serverNoContextTakeover = true;
      else if (key === 'client_no_context_takeover') clientNoContextTakeover = true;
      else if (key === 'server_max_window_bits' && value !== undefined) serverMaxWindowBits = value;
      else if (key === 'client_max_window_bits' && value !== undefined) clientMaxWindowBits = value;
    }
    return { serverNoContextTakeover, clientNoContextTakeover, serverMaxWindowBits, clientMaxWindowBits };
  }
  return null;
}

// --- Parsing what comes back -------------------------------------------------------------------

export interface ParserSink {
  /** A control frame (close, ping, pong), payload unmasked. */
  control(opcode: number, payload: Buffer): void;
  /** The payload (unmasked) of a data message the parser was asked to keep (`sampleNext`). */
  sample(payload: Buffer, rsv1: boolean, opcode: number): void;
}

/**
 * An incremental frame parser that counts data messages without copying their payloads (it keeps
 * no reference to the chunks it is given, except copies of what it samples). It
 * accepts masked frames as well as unmasked ones: the raw TCP echo sends the client's own masked
 * frames back byte for byte, and the same generator drives every server.
 */
export class FrameParser {
  /** Complete data messages seen so far. */
  messages = 0;
  /** Payload bytes of data frames seen so far (compressed bytes when RSV1 is set). */
  payloadBytes = 0;
  /** Data frames with RSV1 set. */
  compressedFrames = 0;
  /** Keep the payload of the next data message and hand it to sink.sample(). */
  sampleNext = false;

  // The frame being read.
  private remaining = 0;
  private opcode = 0;
  private fin = false;
  private rsv1 = false;
  private masked = false;
  private readonly maskKey = Buffer.alloc(4);
  private collecting = false;
  private chunks: Buffer[] = [];
  /** The unmasked fragments of a sampled message so far. */
  private sampleParts: Buffer[] = [];
  /** The opcode of the message a continuation frame belongs to. */
  private messageOpcode = 0;
  private messageRsv1 = false;
  // A header split across reads.
  private readonly header = Buffer.alloc(14);
  private headerLength = 0;

  constructor(
    private readonly sink: ParserSink,
    /** Expected data opcode (text or binary), or -1 for either. */
    private readonly expectedOpcode: number,
    /** Expected payload length of every data frame, or -1 for any (compressed messages). */
    private readonly expectedLength: number,
  ) {}

  push(chunk: Buffer): void {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, n - i);
        // Copied: the generator reads every socket into one shared buffer, reused by the next read.
        if (this.collecting) this.chunks.push(Buffer.from(chunk.subarray(i, i + take)));
        i += take;
        this.remaining -= take;
        if (this.remaining === 0) this.endFrame();
        continue;
      }
      let source = chunk;
      let at = i;
      const available = n - i;
      if (this.headerLength === 0 && available >= 2) {
        const size = headerSize(chunk[i + 1]!);
        if (available < size) {
          chunk.copy(this.header, 0, i, n);
          this.headerLength = available;
          return;
        }
        i += size;
      } else {
        // Complete a header split across reads.
        const need = (this.headerLength < 2 ? 2 : headerSize(this.header[1]!)) - this.headerLength;
        const take = Math.min(need, available);
        chunk.copy(this.header, this.headerLength, i, i + take);
        this.headerLength += take;
        i += take;
        if (this.headerLength < 2 || this.headerLength < headerSize(this.header[1]!)) continue;
        source = this.header;
        at = 0;
        this.headerLength = 0;
      }
      this.startFrame(source, at);
      if (this.remaining === 0) this.endFrame();
    }
  }

  private startFrame(source: Buffer, at: number): void {
    const b0 = source[at]!;
    const b1 = source[at + 1]!;
    this.fin = (b0 & 0x80) !== 0;
    this.rsv1 = (b0 & 0x40) !== 0;
    this.opcode = b0 & 0x0f;
    this.masked = (b1 & 0x80) !== 0;
    let length = b1 & 0x7f;
    let offset = at + 2;
    if (length === 126) {
      length = source.readUInt16BE(offset);
      offset += 2;
    } else if (length === 127) {
      length = source.readUInt32BE(offset) * 2 ** 32 + source.readUInt32BE(offset + 4);
      offset += 8;
    }
    if (this.masked) source.copy(this.maskKey, 0, offset, offset + 4);
    this.remaining = length;
    const opcode = this.opcode;
    if (opcode >= 0x8) {
      if (!this.fin || length > 125) throw new Error(`malformed control frame (opcode ${opcode})`);
      this.collecting = true;
    } else {
      if (opcode !== OPCODE_CONTINUATION) {
        if (opcode !== OPCODE_TEXT && opcode !== OPCODE_BINARY) throw new Error(`unexpected opcode ${opcode}`);
        if (this.expectedOpcode >= 0 && opcode !== this.expectedOpcode) {
          throw new Error(`expected opcode ${this.expectedOpcode}, got ${opcode}`);
        }
        this.messageOpcode = opcode;
        this.messageRsv1 = this.rsv1;
      }
      if (this.rsv1) this.compressedFrames++;
      if (this.expectedLength >= 0 && (length !== this.expectedLength || !this.fin)) {
        throw new Error(`expected one ${this.expectedLength}-byte frame per message, got ${length} bytes (FIN ${this.fin})`);
      }
      this.payloadBytes += length;
      this.collecting = this.sampleNext;
    }
  }

  private endFrame(): void {
    const opcode = this.opcode;
    if (this.collecting) {
      this.collecting = false;
      const payload = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
      this.chunks = [];
      if (this.masked) for (let i = 0; i < payload.length; i++) payload[i]! ^= this.maskKey[i & 3]!;
      if (opcode >= 0x8) {
        this.sink.control(opcode, payload);
        return;
      }
      this.sampleParts.push(payload);
      if (this.fin) {
        const message = this.sampleParts.length === 1 ? payload : Buffer.concat(this.sampleParts);
        this.sampleParts = [];
        this.sampleNext = false;
        this.sink.sample(message, this.messageRsv1, this.messageOpcode);
      }
    }
    if (this.fin && opcode < 0x8) this.messages++;
  }
}

function headerSize(b1: number): number {
  const length = b1 & 0x7f;
  return 2 + (length === 126 ? 2 : length === 127 ? 8 : 0) + ((b1 & 0x80) !== 0 ? 4 : 0);
}
