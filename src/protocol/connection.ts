/**
 * The WebSocket connection as a state machine with no I/O (the python-websockets "Sans-I/O"
 * design), for both roles: received bytes go in through receive(), events come out to its
 * ConnectionHost, and the bytes to send accumulate until the transport takes them (takeOutput()). The whole
 * lifecycle is decided here, so a test drives it by feeding bytes and reading exact output:
 *
 * - state: open -> closing -> closed;
 * - pings are answered with pongs carrying the same payload (RFC 6455 5.5.2); after a close frame
 *   nothing more is parsed (5.5.1); a close is sent at most once and no data after it (5.5.1);
 * - a received close or a protocol error ends the message stream, but is acted on only once the
 *   application has read the messages before it (`onEnd`, then `proceed()`, or closeTimeout), so
 *   that its replies to them go out before our close frame (Autobahn grades dropping them
 *   NON-STRICT);
 * - failing the connection (7.1.7): a close frame with the error's code and a reason cut to fit,
 *   parsing stops, and TCP is ended;
 * - who ends TCP: the server, once close frames went both ways (7.1.1); the client waits for the
 *   server to, and ends it itself after closeTimeout;
 * - how it ended (`CloseResult`: code, reason, wasClean, and our error code when we failed it).
 *
 * The transport only moves bytes and runs one timer: it calls receive(), receiveEnd(), timeout()
 * and transportClosed(), writes what takeOutput() gives, and does what its ConnectionHost's
 * endTransport/destroyTransport/setCloseTimer say.
 */

import {
  CloseCode,
  encodeClosePayload,
  parseClosePayload,
  truncateCloseReason,
  type CloseInfo,
} from './close.js';
import { ConnectionClosedError, ProtocolError, WebSocketError, type WebSocketErrorCode } from './errors.js';
import { MAX_CONTROL_PAYLOAD, Opcode, firstHeaderByte } from './frame.js';
import { FrameParser, type ParserHandler } from './parser.js';
import { FrameWriter, type ReservedFrame, type Slab, type TextEncoding } from './writer.js';

/** Which end of the connection this is: the server accepted it, the client opened it. */
export type Role = 'server' | 'client';

/**
 * 'open' until the closing handshake starts (either side's close frame, or a failure), 'closing'
 * until the transport is gone, then 'closed'.
 */
export type ReadyState = 'open' | 'closing' | 'closed';

/** How a connection ended. */
export interface CloseResult {
  /**
   * The code of the peer's close frame (1005 if it had none); the code we failed the connection
   * with (1002, 1007, 1008, 1009, 1011...) when we did; 1006 when it ended without a closing
   * handshake.
   */
  readonly code: number;
  /**
   * The reason that goes with `code`: the peer's close frame's ('' if it had none), or ours when
   * we failed or cut off the connection, in full (its close frame carries at most 123 bytes of
   * it), e.g. 'ping timeout: ...' or 'connection ended without a closing handshake'.
   */
  readonly reason: string;
  /** True when close frames went both ways before TCP ended (RFC 6455 7.1.4). */
  readonly wasClean: boolean;
  /** When we failed the connection (or cut it off), the stable code of the reason. */
  readonly errorCode?: WebSocketErrorCode;
}

/**
 * What hosts a Connection: receives its events, moves its bytes, runs its timer. A transport
 * adapter (a net.Socket in the Node layer, a Duplex in examples/duplex.ts) implements it.
 */
export interface ConnectionHost {
  /**
   * A complete data message. `compressed`: its first frame had RSV1 set (permessage-deflate), so
   * the payload is still deflated and, for text, not checked for UTF-8: inflate it, then hand a
   * failure back with failReceived().
   */
  onMessage(payload: Uint8Array, isText: boolean, compressed: boolean): void;
  /** A ping arrived; its pong is already queued. The payload is only valid during the call. */
  onPing(payload: Uint8Array): void;
  /** A pong arrived. The payload is only valid during the call. */
  onPong(payload: Uint8Array): void;
  /**
   * The message stream ends here: a close frame or a protocol error arrived after the messages
   * already passed to onMessage. Call `proceed()` once the application has read them (at once if
   * it does not read); until then the connection waits, at most closeTimeout.
   */
  onEnd(): void;
  /** The connection queued frames of its own (a pong, a close frame): write them soon (takeOutput()). */
  onOutput(): void;
  /** Write everything takeOutput() gives (now and as it completes), then end our side of the transport. */
  endTransport(): void;
  /** Destroy the transport now. */
  destroyTransport(): void;
  /** Start (restart) or stop the close timer; when it fires, call `timeout()`. */
  setCloseTimer(on: boolean): void;
}

/** The options of a Connection. One object may serve many connections: it is kept, not copied. */
export interface ConnectionOptions {
  /** A server receives masked frames and sends unmasked ones; a client the reverse (RFC 6455 5.1). */
  readonly role: Role;
  /**
   * Largest message accepted, all its fragments together, in bytes; a larger one fails the
   * connection with 1009 before it is buffered.
   * @defaultValue 67108864 (64 MiB)
   */
  readonly maxPayload?: number;
  /**
   * Most frames one message may be split into; more fails the connection with 1008.
   * @defaultValue 131072
   */
  readonly maxFragments?: number;
  /**
   * permessage-deflate was negotiated: RSV1 marks compressed messages (RFC 7692 6), which
   * onMessage then reports as `compressed`.
   * @defaultValue false
   */
  readonly allowRsv1?: boolean;
  /**
   * Client role: fills 4 bytes with a fresh masking key from a strong source of entropy (RFC 6455
   * 5.3).
   * @defaultValue `crypto.getRandomValues`
   */
  readonly randomMask?: (key: Uint8Array) => void;
  /** @internal Where frames are encoded; by default a slab shared by every connection without one. */
  readonly slab?: Slab;
  /** @internal Allocates message buffers (Node: Buffer.allocUnsafe, so payloads arrive as Buffers). */
  readonly alloc?: (size: number) => Uint8Array;
  /** @internal A faster whole-buffer UTF-8 check (Node: buffer.isUtf8). */
  readonly isUtf8?: (bytes: Uint8Array) => boolean;
  /** @internal A faster UTF-8 encoder (Node: Buffer's, straight into the slab). */
  readonly textEncoding?: TextEncoding;
}

const FIN_TEXT = firstHeaderByte(true, Opcode.TEXT);
const FIN_BINARY = firstHeaderByte(true, Opcode.BINARY);
const FIN_CLOSE = firstHeaderByte(true, Opcode.CLOSE);
const FIN_PING = firstHeaderByte(true, Opcode.PING);
const FIN_PONG = firstHeaderByte(true, Opcode.PONG);
const FIN_TEXT_RSV1 = firstHeaderByte(true, Opcode.TEXT, true);
const FIN_BINARY_RSV1 = firstHeaderByte(true, Opcode.BINARY, true);

// What waits for the application: the peer's close, or the protocol error it made.
const PEER_CLOSE = 'close';
type Pending = typeof PEER_CLOSE | ProtocolError;

interface Outcome {
  readonly code: number;
  readonly reason: string;
  readonly errorCode: WebSocketErrorCode | undefined;
}

// Connection flags, one field for three booleans of 8 bytes each (memory per idle connection).
const FAILED = 1;
const ENDED = 2;
const PEER_ENDED = 4;

/**
 * What a connection knows of its ending: five fields an open connection does not need, so they
 * are made together once it starts closing (memory per idle connection).
 */
class Closing {
  sentClose: CloseInfo | null = null;
  receivedClose: CloseInfo | null = null;
  pending: Pending | null = null;
  // The first explanation of why the connection is ending; `failed` when it is ours.
  outcome: Outcome | null = null;
  result: CloseResult | null = null;
}

// The parser's callbacks (onMessage, onControlFrame) are internal members, so no `implements
// ParserHandler` clause: the published type, without them, would contradict it.
/**
 * One WebSocket connection, either role, as a state machine with no I/O: the transport passes the
 * bytes it receives to receive() and writes what takeOutput() gives; events go to the
 * ConnectionHost, which also ends the transport and runs the close timer. Make it once the opening
 * handshake has succeeded (acceptHandshake(), validateClientResponse()); examples/duplex.ts runs
 * two over a node:stream Duplex pair. The methods that send throw a ConnectionClosedError
 * (WS_ERR_CLOSED) once `canSend` is false, and WS_ERR_INVALID_ARGUMENT for a bad argument.
 */
export class Connection {
  // The options are kept (not copied into fields): the transport passes one object shared by its
  // connections, and the writer is made from it on first use (memory per idle connection).
  private readonly options: ConnectionOptions;
  private frameWriter: FrameWriter | null = null;
  private readonly parser: FrameParser;
  private readonly host: ConnectionHost;

  private currentState: ReadyState = 'open';
  // How it is closing (see Closing, and the accessors below): made once it starts to.
  private closing: Closing | null = null;
  // FAILED; ENDED: we asked the transport to end our side of TCP; PEER_ENDED: the peer ended its.
  private flags = 0;

  /**
   * An open connection whose events go to `host`. `options` is kept, not copied: one object may
   * serve many connections.
   */
  constructor(host: ConnectionHost, options: ConnectionOptions) {
    this.options = options;
    this.host = host;
    const parserHandler: ParserHandler = this;
    this.parser = new FrameParser(parserHandler, options);
  }

  /** `options.role`: 'server' or 'client'. */
  get role(): Role {
    return this.options.role;
  }

  /**
   * @internal Where the frames to send accumulate. Made when first needed: a connection that has
   * sent nothing yet (an idle one) carries no writer (memory per idle connection). A client's
   * frames are masked (RFC 6455 5.1).
   */
  get writer(): FrameWriter {
    return (this.frameWriter ??= new FrameWriter(this.options, this.options.role === 'client'));
  }

  /**
   * The bytes to write to the transport, in order, and forgets them: everything sent so far, up to
   * a message still being compressed (reserveCompressed), whose bytes and what follows come once
   * it is completed. The chunks may be views of a buffer shared by connections (never written
   * again): write them as they are, and copy any that must be modified.
   */
  takeOutput(): Uint8Array[] {
    return this.frameWriter === null ? [] : this.frameWriter.take();
  }

  /** Bytes queued for the transport, not taken yet (takeOutput()). */
  get pendingBytes(): number {
    return this.frameWriter?.pendingBytes ?? 0;
  }

  private get sentClose(): CloseInfo | null {
    return this.closing?.sentClose ?? null;
  }

  private set sentClose(info: CloseInfo | null) {
    if (info !== null || this.closing !== null) (this.closing ??= new Closing()).sentClose = info;
  }

  private get receivedClose(): CloseInfo | null {
    return this.closing?.receivedClose ?? null;
  }

  private set receivedClose(info: CloseInfo | null) {
    if (info !== null || this.closing !== null) (this.closing ??= new Closing()).receivedClose = info;
  }

  private get pending(): Pending | null {
    return this.closing?.pending ?? null;
  }

  private set pending(pending: Pending | null) {
    if (pending !== null || this.closing !== null) (this.closing ??= new Closing()).pending = pending;
  }

  private get outcome(): Outcome | null {
    return this.closing?.outcome ?? null;
  }

  private set outcome(outcome: Outcome | null) {
    if (outcome !== null || this.closing !== null) (this.closing ??= new Closing()).outcome = outcome;
  }

  private get result(): CloseResult | null {
    return this.closing?.result ?? null;
  }

  private set result(result: CloseResult | null) {
    if (result !== null || this.closing !== null) (this.closing ??= new Closing()).result = result;
  }

  /**
   * 'open'; 'closing' once a close frame went either way or the connection failed; 'closed' once
   * the transport is gone (transportClosed()).
   */
  get state(): ReadyState {
    return this.currentState;
  }

  /** The close frame we sent (queued), once we have. */
  get closeSent(): CloseInfo | null {
    return this.sentClose;
  }

  /** The close frame the peer sent, once it has arrived. */
  get closeReceived(): CloseInfo | null {
    return this.receivedClose;
  }

  /** How the connection ended, once the transport is gone. */
  get closeResult(): CloseResult | null {
    return this.result;
  }

  /**
   * Whether data frames may still be sent: our close is not sent, the connection is not failed,
   * and we have not ended our side of TCP (after the peer's EOF, say: nothing could be written).
   */
  get canSend(): boolean {
    return this.sentClose === null && (this.flags & (FAILED | ENDED)) === 0 && this.currentState !== 'closed';
  }

  /**
   * Parses received bytes (the connection takes the chunk over). A protocol error does not throw:
   * it ends the message stream (onEnd), and the connection is failed with its close code once the
   * application has read what came before it.
   */
  receive(chunk: Uint8Array): void {
    if (this.currentState === 'closed') return;
    try {
      this.parser.push(chunk);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      this.receivedBadData(error);
    }
  }

  /**
   * A received message turned out to be invalid after parsing (its inflation failed): handled like
   * a protocol error in the frame that carried it. Nothing more is parsed.
   */
  failReceived(error: ProtocolError): void {
    this.parser.stop();
    if (this.currentState === 'closed') return;
    this.receivedBadData(error);
  }

  /** Sends `text` as one text frame, encoded as UTF-8 (a lone surrogate becomes U+FFFD). */
  sendText(text: string): void {
    this.checkCanSend();
    this.writer.writeTextFrame(FIN_TEXT, text);
  }

  /**
   * Sends `payload` as one binary frame. Server role: a payload of 16 KiB or more is queued by
   * reference, not copied, so leave it unchanged until the transport has written it.
   */
  sendBinary(payload: Uint8Array): void {
    this.checkCanSend();
    this.writer.writeFrame(FIN_BINARY, payload);
  }

  /**
   * Sends a message as frames of at most `fragmentSize` payload bytes (RFC 6455 5.4); `payload`
   * is UTF-8 for text.
   */
  sendFragmented(payload: Uint8Array, isText: boolean, fragmentSize: number): void {
    this.checkCanSend();
    this.writer.writeFragmented(isText ? FIN_TEXT : FIN_BINARY, payload, fragmentSize);
  }

  /** Sends bytes known to be valid UTF-8 as a text message, without decoding them. */
  sendTextBytes(payload: Uint8Array): void {
    this.checkCanSend();
    this.writer.writeFrame(FIN_TEXT, payload);
  }

  /**
   * Holds the place of a message that is being compressed, so that frames sent after it (our
   * close included) go out after it. Fill it with completeCompressed().
   */
  reserveCompressed(): ReservedFrame {
    this.checkCanSend();
    return this.writer.reserve();
  }

  /**
   * A compressed message for its reserved place (RFC 7692 7.2.1): one frame with RSV1 set, its
   * payload the deflate output without the trailing 00 00 ff ff. Allowed after our close frame,
   * which was queued behind it. Returns false if the place was dropped (the connection failed).
   */
  completeCompressed(frame: ReservedFrame, payload: Uint8Array, isText: boolean, fragmentSize = 0): boolean {
    // Fragmented, RSV1 marks the first frame only (RFC 7692 6.1).
    return this.writer.fill(frame, isText ? FIN_TEXT_RSV1 : FIN_BINARY_RSV1, payload, fragmentSize);
  }

  /**
   * Sends a frame built once for many connections (prepared.ts): the server role writes its bytes
   * as they are; the client role must mask, so it frames the payload again with a fresh key.
   */
  sendPrepared(firstByte: number, payload: Uint8Array, frame: Uint8Array): void {
    this.checkCanSend();
    if (this.role === 'server') this.writer.writeRaw(frame);
    else this.writer.writeFrame(firstByte, payload);
  }

  /**
   * Sends a ping (RFC 6455 5.5.2); the pong comes to the host's onPong. A payload over 125 bytes
   * throws WS_ERR_INVALID_ARGUMENT.
   */
  sendPing(payload: Uint8Array): void {
    this.checkCanSend();
    checkControlPayload(payload);
    this.writer.writeFrame(FIN_PING, payload);
  }

  /**
   * Starts the closing handshake (RFC 6455 7.1.2), or completes it when the peer's close is
   * waiting for us: queues our close frame behind everything sent before. `code` undefined sends
   * an empty payload. Does nothing once our close is sent or the connection failed. Throws
   * WS_ERR_INVALID_ARGUMENT (before anything changes) for a code that may not be sent or a reason
   * over 123 bytes.
   */
  close(code?: number, reason = ''): void {
    const payload = encodeClosePayload(code, reason);
    if (this.sentClose !== null || (this.flags & FAILED) !== 0 || this.currentState === 'closed') return;
    const pending = this.pending;
    // Our side of TCP is ended (the peer's EOF, nothing pending): no frame can go out any more.
    if ((this.flags & ENDED) !== 0 && pending === null) return;
    if (pending instanceof ProtocolError) {
      // The peer broke the protocol: that decides how we close.
      this.proceed();
      return;
    }
    this.pending = null;
    this.writeClose(payload, code, reason);
    this.currentState = 'closing';
    if (this.receivedClose !== null) {
      this.host.setCloseTimer(false);
      this.handshakeComplete();
    } else if ((this.flags & PEER_ENDED) !== 0) {
      // The peer is gone without a close frame: nothing will answer ours.
      this.end();
    } else {
      // Wait for the peer's close frame.
      this.host.setCloseTimer(true);
    }
  }

  /**
   * Fails the connection ourselves (RFC 6455 7.1.7): e.g. a peer too slow to read (1008), an
   * application error (1011). What waits for compression is dropped; a close frame with `code`
   * and `reason` (cut to 123 bytes) goes out unless ours is already sent; TCP is ended.
   */
  fail(code: number, reason: string, errorCode?: WebSocketErrorCode): void {
    this.failWith(code, reason, errorCode, true);
  }

  /**
   * fail(), and whether what is queued goes too: yes when we fail it ourselves (a peer too slow
   * to read, 1008); no when the peer's protocol error waited for the application (see proceed()).
   */
  private failWith(code: number, reason: string, errorCode: WebSocketErrorCode | undefined, dropQueued: boolean): void {
    if (this.currentState === 'closed' || (this.flags & FAILED) !== 0) return;
    const sentReason = truncateCloseReason(reason);
    const payload = encodeClosePayload(code, sentReason);
    this.flags |= FAILED;
    this.parser.stop();
    this.pending = null;
    this.host.setCloseTimer(false);
    this.record(code, reason, errorCode, true);
    // Our close frame, if queued, was queued behind the frames dropped (nothing is reserved after
    // it), so it was dropped with them: the failure's close frame goes out instead (7.1.7).
    if (dropQueued && this.frameWriter !== null && this.frameWriter.dropReserved()) this.sentClose = null;
    if (this.sentClose === null) this.writeClose(payload, code, sentReason);
    this.currentState = 'closing';
    this.end();
  }

  /**
   * The application has read every message before the end of the stream (see onEnd): answer the
   * peer's close, or fail the connection for the peer's protocol error.
   */
  proceed(): void {
    const pending = this.pending;
    if (pending === null) return;
    this.pending = null;
    this.host.setCloseTimer(false);
    if (pending === PEER_CLOSE) {
      // RFC 6455 5.5.1: answer a close with a close echoing its code.
      const received = this.receivedClose!;
      if (this.sentClose === null) {
        const code = received.code === CloseCode.NO_STATUS ? undefined : received.code;
        this.writeClose(encodeClosePayload(code), code, '');
      }
      this.handshakeComplete();
    } else {
      // The application has read every message before the error: its replies to them, queued or
      // still being compressed, go out before our close frame, as they do for a peer's close.
      this.failWith(pending.closeCode, pending.message, pending.code, false);
    }
  }

  /** Cuts the connection off without a closing handshake (1006). */
  terminate(reason: string, errorCode?: WebSocketErrorCode): void {
    if (this.currentState === 'closed') return;
    // A close frame or failure already recorded explains more than "terminated".
    this.record(CloseCode.ABNORMAL, reason, errorCode, false);
    this.pending = null;
    // Nothing more reaches the application, not even the rest of the chunk being parsed.
    this.parser.stop();
    this.host.destroyTransport();
  }

  /** The peer ended its side of TCP: nothing more will arrive. */
  receiveEnd(): void {
    this.flags |= PEER_ENDED;
    this.parser.stop();
    if (this.currentState === 'closed') return;
    // A close or a failure still waiting for the application keeps our side open for its reply.
    if (this.pending !== null) return;
    this.currentState = 'closing';
    this.end();
  }

  /** The close timer fired: whatever we were waiting for, stop waiting. */
  timeout(): void {
    if (this.currentState === 'closed') return;
    if (this.pending !== null) {
      // The application did not read the messages before the close in time.
      this.proceed();
      return;
    }
    if (this.sentClose !== null && this.receivedClose === null && (this.flags & FAILED) === 0) {
      this.record(CloseCode.ABNORMAL, 'closing handshake timed out', 'WS_ERR_CLOSE_TIMEOUT', true);
      this.host.destroyTransport();
      return;
    }
    if ((this.flags & ENDED) === 0 && this.receivedClose !== null && this.sentClose !== null) {
      // RFC 6455 7.1.1: a client waits for the server to end TCP, and ends it itself after a while.
      this.end();
      return;
    }
    this.host.destroyTransport();
  }

  /** The transport is gone: the connection is closed. Returns how it ended. */
  transportClosed(): CloseResult {
    if (this.result !== null) return this.result;
    this.currentState = 'closed';
    this.pending = null;
    this.parser.stop();
    this.host.setCloseTimer(false);
    const outcome = this.outcome ?? {
      code: CloseCode.ABNORMAL,
      reason: 'connection ended without a closing handshake',
      errorCode: undefined,
    };
    const wasClean = this.sentClose !== null && this.receivedClose !== null && outcome.code !== CloseCode.ABNORMAL;
    this.result =
      outcome.errorCode === undefined
        ? { code: outcome.code, reason: outcome.reason, wasClean }
        : { code: outcome.code, reason: outcome.reason, wasClean, errorCode: outcome.errorCode };
    return this.result;
  }

  /** The error that explains why sending is refused. */
  closedError(): ConnectionClosedError {
    const outcome = this.result ?? this.outcome;
    if (outcome !== null) return new ConnectionClosedError(outcome.code, outcome.reason);
    const sent = this.sentClose;
    if (sent !== null) return new ConnectionClosedError(sent.code, sent.reason);
    return new ConnectionClosedError(CloseCode.ABNORMAL, 'closing');
  }

  /** @internal ParserHandler: a complete data message. */
  onMessage(payload: Uint8Array, isText: boolean, compressed: boolean): void {
    this.host.onMessage(payload, isText, compressed);
  }

  /** @internal ParserHandler: a complete control frame. */
  onControlFrame(opcode: number, payload: Uint8Array): void {
    if (opcode === Opcode.PING) {
      // RFC 6455 5.5.2: answer with a pong carrying the same payload, unless we are closing.
      if (this.canSend) {
        this.writer.writeFrame(FIN_PONG, payload);
        this.host.onOutput();
      }
      this.host.onPing(payload);
    } else if (opcode === Opcode.PONG) {
      this.host.onPong(payload);
    } else {
      const info = parseClosePayload(payload);
      this.receivedClose = info;
      // RFC 6455 5.5.1: after a close frame the peer sends nothing more; whatever follows is ignored.
      this.parser.stop();
      this.record(info.code, info.reason, undefined, false);
      this.currentState = 'closing';
      if (this.sentClose !== null) {
        // The answer to our close (or the closes crossed).
        this.host.setCloseTimer(false);
        this.handshakeComplete();
      } else {
        this.awaitApplication(PEER_CLOSE);
      }
    }
  }

  private receivedBadData(error: ProtocolError): void {
    if ((this.flags & FAILED) !== 0) return;
    if (this.sentClose !== null) {
      // Our close is out already: nothing to answer, just fail.
      this.fail(error.closeCode, error.message, error.code);
      return;
    }
    this.record(error.closeCode, error.message, error.code, true);
    this.currentState = 'closing';
    if (this.pending !== null) {
      // A message before the end of the stream (the peer's close, or a later protocol error) was
      // invalid, found while inflating: it comes first, so fail with it. onEnd was reported already.
      this.pending = error;
      return;
    }
    this.awaitApplication(error);
  }

  /** The stream has ended: let the application catch up, then proceed (or at closeTimeout). */
  private awaitApplication(pending: Pending): void {
    this.pending = pending;
    this.host.onEnd();
    if (this.pending !== null) this.host.setCloseTimer(true);
  }

  /** Close frames went both ways: who ends TCP (RFC 6455 7.1.1). */
  private handshakeComplete(): void {
    if (this.role === 'server' || (this.flags & PEER_ENDED) !== 0) this.end();
    else this.host.setCloseTimer(true);
  }

  /** Ends our side of TCP once what is queued is written; the peer has closeTimeout to end its. */
  private end(): void {
    if ((this.flags & ENDED) === 0) {
      this.flags |= ENDED;
      this.host.endTransport();
    }
    // Also when ended already: fail() and proceed() stop the timer first, and the close timer is
    // the only bound on a transport whose peer never ends its side.
    if (this.currentState !== 'closed') this.host.setCloseTimer(true);
  }

  private writeClose(payload: Uint8Array, code: number | undefined, reason: string): void {
    this.sentClose = { code: code ?? CloseCode.NO_STATUS, reason };
    this.writer.writeFrame(FIN_CLOSE, payload);
    this.host.onOutput();
  }

  /** Keeps the first explanation of why the connection is ending, unless `override`. */
  private record(code: number, reason: string, errorCode: WebSocketErrorCode | undefined, override: boolean): void {
    if (this.outcome !== null && !override) return;
    this.outcome = { code, reason, errorCode };
  }

  private checkCanSend(): void {
    // RFC 6455 5.5.1: no data after our close frame.
    if (!this.canSend) throw this.closedError();
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
