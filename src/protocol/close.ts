/** Close codes and close frame payloads (RFC 6455 5.5.1 and 7.4). */

import { ProtocolError, WebSocketError } from './errors.js';
import { UTF8_ACCEPT, validateUtf8 } from './utf8.js';

export const CloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_DATA: 1003,
  /** Never on the wire: reported when a close frame had no code. */
  NO_STATUS: 1005,
  /** Never on the wire: reported when the connection ended without a close frame. */
  ABNORMAL: 1006,
  INVALID_PAYLOAD: 1007,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  MANDATORY_EXTENSION: 1010,
  INTERNAL_ERROR: 1011,
  SERVICE_RESTART: 1012,
  TRY_AGAIN_LATER: 1013,
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

export interface CloseInfo {
  /** The code from the frame, or 1005 (NO_STATUS) when the frame had no payload. */
  readonly code: number;
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
