/**
 * The load generator's reading of the wire: which permessage-deflate parameters a server accepted,
 * and a frame parser that counts data messages without copying them. Frames, handshakes and
 * deflate come from testkit/ (neutral to every server: it shares nothing with the library).
 */

import { FrameReader, OP } from '../../testkit/index.js';

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
 * The generator's parser: counts data messages without copying their payloads (testkit's
 * FrameReader keeps no reference to the chunks it is given, and copies only what is sampled),
 * checks that every echo is the frame the case expects, and hands control frames and sampled
 * messages to the sink. It accepts masked frames as well as unmasked ones: the raw TCP echo sends
 * the client's own masked frames back byte for byte, and the same generator drives every server.
 */
export class FrameParser extends FrameReader {
  /** Complete data messages seen so far. */
  messages = 0;
  /** Payload bytes of data frames seen so far (compressed bytes when RSV1 is set). */
  payloadBytes = 0;
  /** Data frames with RSV1 set. */
  compressedFrames = 0;
  /** Keep the payload of the next data message and hand it to sink.sample(). */
  sampleNext = false;

  /** The unmasked fragments of a sampled message so far. */
  private sampleParts: Buffer[] = [];
  /** The opcode of the message a continuation frame belongs to. */
  private messageOpcode = 0;
  private messageRsv1 = false;

  constructor(
    private readonly sink: ParserSink,
    /** Expected data opcode (text or binary), or -1 for either. */
    private readonly expectedOpcode: number,
    /** Expected payload length of every data frame, or -1 for any (compressed messages). */
    private readonly expectedLength: number,
  ) {
    super();
  }

  protected onHeader(): boolean {
    const opcode = this.opcode;
    const length = this.length;
    if (opcode >= 0x8) {
      if (!this.fin || length > 125) throw new Error(`malformed control frame (opcode ${opcode})`);
      return true;
    }
    const rsv1 = (this.rsv & 4) !== 0;
    if (opcode !== OP.CONT) {
      if (opcode !== OP.TEXT && opcode !== OP.BINARY) throw new Error(`unexpected opcode ${opcode}`);
      if (this.expectedOpcode >= 0 && opcode !== this.expectedOpcode) {
        throw new Error(`expected opcode ${this.expectedOpcode}, got ${opcode}`);
      }
      this.messageOpcode = opcode;
      this.messageRsv1 = rsv1;
    }
    if (rsv1) this.compressedFrames++;
    if (this.expectedLength >= 0 && (length !== this.expectedLength || !this.fin)) {
      throw new Error(`expected one ${this.expectedLength}-byte frame per message, got ${length} bytes (FIN ${this.fin})`);
    }
    this.payloadBytes += length;
    return this.sampleNext;
  }

  protected onFrame(kept: Buffer | null): void {
    const opcode = this.opcode;
    if (kept !== null) {
      const payload = this.unmask(kept);
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
