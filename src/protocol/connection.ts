/**
 * The WebSocket connection as a state machine with no I/O (the python-websockets "Sans-I/O"
 * design): received bytes go in through receive(), events come out through the handler, and the
 * bytes to send accumulate in `writer` for the transport to take. A test drives it by feeding bytes.
 *
 * What it decides: pings are answered with pongs carrying the same payload (RFC 6455 5.5.2);
 * unsolicited pongs are passed on and otherwise ignored (5.5.3); after a close frame nothing more is
 * parsed (5.5.1); a close is sent at most once and nothing is sent after it (5.5.1). When to answer
 * a received close, and when to end TCP, is the transport's call: it depends on the application.
 */

import {
  CloseCode,
  encodeClosePayload,
  parseClosePayload,
  type CloseInfo,
} from './close.js';
import { ConnectionClosedError, WebSocketError } from './errors.js';
import { MAX_CONTROL_PAYLOAD, Opcode, firstHeaderByte } from './frame.js';
import { FrameParser, type ParserHandler } from './parser.js';
import { FrameWriter, type Slab, type TextEncoding } from './writer.js';

export interface ConnectionHandler {
  /** `compressed`: permessage-deflate data still to be inflated (see ParserHandler). */
  onMessage(payload: Uint8Array, isText: boolean, compressed: boolean): void;
  /** A ping arrived; its pong is already queued. The payload is only valid during the call. */
  onPing(payload: Uint8Array): void;
  /** A pong arrived. The payload is only valid during the call. */
  onPong(payload: Uint8Array): void;
  /** The peer's close frame arrived; nothing after it will be parsed. */
  onClose(info: CloseInfo): void;
}

export interface ConnectionOptions {
  readonly role: 'server' | 'client';
  readonly maxPayload: number;
  readonly maxFragments: number;
  /** permessage-deflate was negotiated: RSV1 marks compressed messages (RFC 7692 6). */
  readonly allowRsv1?: boolean;
  readonly slab: Slab;
  readonly alloc?: (size: number) => Uint8Array;
  readonly isUtf8?: (bytes: Uint8Array) => boolean;
  readonly textEncoding?: TextEncoding;
  /** Client role: fills 4 bytes with a fresh masking key from a strong random source. */
  readonly randomMask?: (key: Uint8Array) => void;
}

const FIN_TEXT = firstHeaderByte(true, Opcode.TEXT);
const FIN_BINARY = firstHeaderByte(true, Opcode.BINARY);
const FIN_CLOSE = firstHeaderByte(true, Opcode.CLOSE);
const FIN_PING = firstHeaderByte(true, Opcode.PING);
const FIN_PONG = firstHeaderByte(true, Opcode.PONG);
const FIN_TEXT_RSV1 = firstHeaderByte(true, Opcode.TEXT, true);
const FIN_BINARY_RSV1 = firstHeaderByte(true, Opcode.BINARY, true);

export class Connection implements ParserHandler {
  readonly writer: FrameWriter;
  private readonly parser: FrameParser;
  private readonly handler: ConnectionHandler;
  private sentClose: CloseInfo | null = null;
  private receivedClose: CloseInfo | null = null;

  constructor(handler: ConnectionHandler, options: ConnectionOptions) {
    this.handler = handler;
    this.parser = new FrameParser(this, options);
    this.writer = new FrameWriter(options);
  }

  /** The close frame we sent, once we have. */
  get closeSent(): CloseInfo | null {
    return this.sentClose;
  }

  /** The close frame the peer sent, once it has arrived. */
  get closeReceived(): CloseInfo | null {
    return this.receivedClose;
  }

  /**
   * Parses received bytes (the connection takes the chunk over). Throws a ProtocolError when the
   * peer breaks the protocol; the caller then fails the connection with `fail()`.
   */
  receive(chunk: Uint8Array): void {
    this.parser.push(chunk);
  }

  /** Parses nothing more (e.g. after a failure found outside the parser, such as in inflation). */
  stopReceiving(): void {
    this.parser.stop();
  }

  sendText(text: string): void {
    this.checkCanSend();
    this.writer.writeTextFrame(FIN_TEXT, text);
  }

  sendBinary(payload: Uint8Array): void {
    this.checkCanSend();
    this.writer.writeFrame(FIN_BINARY, payload);
  }

  /**
   * Sends a message that permessage-deflate already compressed (RFC 7692 7.2.1): one frame with
   * RSV1 set, its payload the deflate output without the trailing 00 00 ff ff.
   */
  sendCompressed(payload: Uint8Array, isText: boolean): void {
    this.checkCanSend();
    this.writer.writeFrame(isText ? FIN_TEXT_RSV1 : FIN_BINARY_RSV1, payload);
  }

  sendPing(payload: Uint8Array): void {
    this.checkCanSend();
    checkControlPayload(payload);
    this.writer.writeFrame(FIN_PING, payload);
  }

  /**
   * Queues our close frame (once: later calls do nothing). `code` undefined sends an empty payload.
   * Throws WS_ERR_INVALID_ARGUMENT for a code that may not be sent or a reason over 123 bytes.
   */
  sendClose(code?: number, reason = ''): void {
    if (this.sentClose !== null) return;
    const payload = encodeClosePayload(code, reason);
    this.sentClose = { code: code ?? CloseCode.NO_STATUS, reason };
    this.writer.writeFrame(FIN_CLOSE, payload);
  }

  /**
   * Answers the peer's close frame: echoes its code (RFC 6455 5.5.1), or sends an empty close when
   * it had none.
   */
  acknowledgeClose(): void {
    const received = this.receivedClose;
    if (received === null) return;
    if (received.code === CloseCode.NO_STATUS) this.sendClose();
    else this.sendClose(received.code);
  }

  /** ParserHandler: a complete data message. */
  onMessage(payload: Uint8Array, isText: boolean, compressed: boolean): void {
    this.handler.onMessage(payload, isText, compressed);
  }

  /** ParserHandler: a complete control frame. */
  onControlFrame(opcode: number, payload: Uint8Array): void {
    if (opcode === Opcode.PING) {
      // RFC 6455 5.5.2: answer with a pong carrying the same payload, unless we are closing.
      if (this.sentClose === null) this.writer.writeFrame(FIN_PONG, payload);
      this.handler.onPing(payload);
    } else if (opcode === Opcode.PONG) {
      this.handler.onPong(payload);
    } else {
      const info = parseClosePayload(payload);
      this.receivedClose = info;
      // RFC 6455 5.5.1: after a close frame the peer sends nothing more; whatever follows is ignored.
      this.parser.stop();
      this.handler.onClose(info);
    }
  }

  private checkCanSend(): void {
    // RFC 6455 5.5.1: no data after our close frame.
    const sent = this.sentClose;
    if (sent !== null) throw new ConnectionClosedError(sent.code, sent.reason);
  }
}

function checkControlPayload(payload: Uint8Array): void {
  if (payload.length > MAX_CONTROL_PAYLOAD) {
    throw new WebSocketError(
      'WS_ERR_INVALID_ARGUMENT',
      `control frame payload of ${payload.length} bytes (at most ${MAX_CONTROL_PAYLOAD})`,
    );
  }
}
