/** Close codes and close frame payloads (RFC 6455 5.5.1 and 7.4). */

import { ProtocolError, WebSocketError } from './errors.js';
import { UTF8_ACCEPT, validateUtf8 } from './utf8.js';

/**
 * The close codes of RFC 6455 7.4.1 and the IANA registry, by name: `CloseCode.NORMAL` is 1000.
 * Codes 3000-3999 are registered for libraries and frameworks, 4000-4999 are an application's own;
 * isSendableCloseCode() says which codes may be sent.
 */
export const CloseCode = {
  /** Normal closure: the purpose of the connection is fulfilled. The default of `close()`. */
  NORMAL: 1000,
  /**
   * The endpoint is going away: a server shutting down (what `server.close()` sends by default), a
   * browser leaving the page, a connection closed for its `idleTimeout`.
   */
  GOING_AWAY: 1001,
  /** The peer broke the protocol (most ProtocolError codes). */
  PROTOCOL_ERROR: 1002,
  /** The endpoint cannot accept this kind of data (binary for a text-only endpoint, say). */
  UNSUPPORTED_DATA: 1003,
  /** Never on the wire: reported when a close frame had no code. */
  NO_STATUS: 1005,
  /** Never on the wire: reported when the connection ended without a close frame. */
  ABNORMAL: 1006,
  /** Data that does not match its type: invalid UTF-8 in text or a close reason, bad compressed data. */
  INVALID_PAYLOAD: 1007,
  /**
   * A message against the endpoint's policy, when no more specific code fits: too many fragments,
   * a peer too slow to read ("too slow"), a peer over the rate limits.
   */
  POLICY_VIOLATION: 1008,
  /** A message too big to process: over `maxPayload`, inflated or not. */
  MESSAGE_TOO_BIG: 1009,
  /** Sent by a client: the server did not agree to an extension the client requires. */
  MANDATORY_EXTENSION: 1010,
  /** An unexpected condition on the sending side: a handler that threw, zlib that failed. */
  INTERNAL_ERROR: 1011,
  /** The service is restarting (IANA registry): come back; `reconnect()` waits 5-30 s. */
  SERVICE_RESTART: 1012,
  /** The service is overloaded for now (IANA registry): come back later; `reconnect()` waits 5-30 s. */
  TRY_AGAIN_LATER: 1013,
  /** A gateway or proxy got an invalid response from the server behind it (IANA registry). */
  BAD_GATEWAY: 1014,
} as const;

/** A close reason is at most 123 bytes: the payload of a control frame is at most 125 (5.5). */
export const MAX_CLOSE_REASON_BYTES = 123;

/**
 * Whether `code` may be sent in a close frame (RFC 6455 7.4.1, 7.4.2 and the IANA registry):
 * 1000-1003 and 1007-1014 are defined, 3000-4999 belong to libraries and applications. 0-999,
 * 1004 (reserved), 1005, 1006 and 1015 (never sent), the rest of 1016-2999 (reserved for future
 * RFCs) and 5000+ are not.
 */
export function isSendableCloseCode(code: number): boolean {
  return (
    (code >= 1000 && code <= 1003) ||
    (code >= 1007 && code <= 1014) ||
    (code >= 3000 && code <= 4999)
  );
}

/** A close frame, sent or received: its code and reason. */
export interface CloseInfo {
  /** The code from the frame, or 1005 (NO_STATUS) when the frame had no payload. */
  readonly code: number;
  /** The reason, decoded from UTF-8: at most 123 bytes, '' when the frame had none. */
  readonly reason: string;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Reads a received close frame's payload; a peer's bad payload is a protocol error. */
export function parseClosePayload(payload: Uint8Array): CloseInfo {
  if (payload.length === 0) return { code: CloseCode.NO_STATUS, reason: '' };
  if (payload.length === 1) {
    throw new ProtocolError(
      'WS_ERR_INVALID_CLOSE_PAYLOAD',
      CloseCode.PROTOCOL_ERROR,
      'close frame payload of 1 byte: a code takes 2',
    );
  }
  const code = (payload[0]! << 8) | payload[1]!;
  if (!isSendableCloseCode(code)) {
    throw new ProtocolError(
      'WS_ERR_INVALID_CLOSE_CODE',
      CloseCode.PROTOCOL_ERROR,
      `invalid close code ${code}`,
    );
  }
  if (validateUtf8(payload, 2, payload.length, UTF8_ACCEPT) !== UTF8_ACCEPT) {
    throw new ProtocolError(
      'WS_ERR_INVALID_UTF8',
      CloseCode.INVALID_PAYLOAD,
      'close reason is not valid UTF-8',
    );
  }
  return { code, reason: decoder.decode(payload.subarray(2)) };
}

/**
 * `reason` cut to the most whole characters that fit a close frame's 123 bytes of UTF-8
 * (RFC 6455 5.5): for reasons we make ourselves, such as an error's message.
 */
export function truncateCloseReason(reason: string): string {
  if (reason.length * 3 <= MAX_CLOSE_REASON_BYTES) return reason;
  // encodeInto stops before a character that does not fit, and says how much of the string it read.
  const { read } = encoder.encodeInto(reason, new Uint8Array(MAX_CLOSE_REASON_BYTES));
  return reason.slice(0, read);
}

/**
 * Builds the payload of a close frame we send. `code` undefined sends an empty payload, which is
 * how a close without a code is echoed (RFC 6455 5.5.1). Bad arguments are the caller's mistake,
 * reported with WS_ERR_INVALID_ARGUMENT before anything is sent.
 */
export function encodeClosePayload(code?: number, reason = ''): Uint8Array {
  if (code === undefined) {
    if (reason !== '') {
      throw new WebSocketError('WS_ERR_INVALID_ARGUMENT', 'a close reason needs a close code');
    }
    return new Uint8Array(0);
  }
  if (!Number.isInteger(code) || !isSendableCloseCode(code)) {
    throw new WebSocketError('WS_ERR_INVALID_ARGUMENT', `close code ${code} may not be sent`);
  }
  const reasonBytes = encoder.encode(reason);
  if (reasonBytes.length > MAX_CLOSE_REASON_BYTES) {
    throw new WebSocketError(
      'WS_ERR_INVALID_ARGUMENT',
      `close reason is ${reasonBytes.length} bytes; at most ${MAX_CLOSE_REASON_BYTES} fit`,
    );
  }
  const payload = new Uint8Array(2 + reasonBytes.length);
  payload[0] = code >>> 8;
  payload[1] = code & 0xff;
  payload.set(reasonBytes, 2);
  return payload;
}
