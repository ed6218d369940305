import { describe, expect, it } from 'vitest';
import {
  CloseCode,
  MAX_CLOSE_REASON_BYTES,
  encodeClosePayload,
  isSendableCloseCode,
  parseClosePayload,
  truncateCloseReason,
} from '../../src/protocol/close.js';
import { WebSocketError } from '../../src/protocol/errors.js';
import { concat, expectProtocolError, expectWebSocketError, fromHex, hex, utf8 } from './helpers.js';

function codeBytes(code: number): Uint8Array {
  return Uint8Array.of(code >>> 8, code & 0xff);
}

const FORBIDDEN = [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535];
const ALLOWED = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999];

describe('CloseCode', () => {
  it('has the RFC 6455 7.4.1 and IANA values', () => {
    expect(CloseCode).toEqual({
      NORMAL: 1000,
      GOING_AWAY: 1001,
      PROTOCOL_ERROR: 1002,
      UNSUPPORTED_DATA: 1003,
      NO_STATUS: 1005,
      ABNORMAL: 1006,
      INVALID_PAYLOAD: 1007,
      POLICY_VIOLATION: 1008,
      MESSAGE_TOO_BIG: 1009,
      MANDATORY_EXTENSION: 1010,
      INTERNAL_ERROR: 1011,
      SERVICE_RESTART: 1012,
      TRY_AGAIN_LATER: 1013,
      BAD_GATEWAY: 1014,
    });
    expect(MAX_CLOSE_REASON_BYTES).toBe(123);
  });
});

describe('isSendableCloseCode', () => {
  it('is true exactly for 1000-1003, 1007-1014 and 3000-4999 over 0..65535', () => {
    for (let code = 0; code <= 0xffff; code++) {
      const expected = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
      if (isSendableCloseCode(code) !== expected) throw new Error(`code ${code}`);
    }
  });
});

describe('parseClosePayload', () => {
  it('reads an empty payload as 1005 with no reason', () => {
    expect(parseClosePayload(new Uint8Array(0))).toEqual({ code: 1005, reason: '' });
  });

  it('rejects a 1-byte payload: WS_ERR_INVALID_CLOSE_PAYLOAD, 1002', () => {
    expectProtocolError(() => parseClosePayload(fromHex('03')), 'WS_ERR_INVALID_CLOSE_PAYLOAD', 1002);
  });

  it.each(FORBIDDEN)('rejects close code %i: WS_ERR_INVALID_CLOSE_CODE, 1002', (code) => {
    expectProtocolError(() => parseClosePayload(codeBytes(code)), 'WS_ERR_INVALID_CLOSE_CODE', 1002);
  });

  it.each(ALLOWED)('accepts close code %i', (code) => {
    expect(parseClosePayload(codeBytes(code))).toEqual({ code, reason: '' });
  });

  it('reads a UTF-8 reason', () => {
    expect(parseClosePayload(concat(codeBytes(1000), utf8('bye')))).toEqual({ code: 1000, reason: 'bye' });
    expect(parseClosePayload(concat(codeBytes(4001), utf8('κόσμε 😀')))).toEqual({ code: 4001, reason: 'κόσμε 😀' });
  });

  it('reads a 123-byte reason (the largest that fits a control frame)', () => {
    const reason = 'r'.repeat(123);
    expect(parseClosePayload(concat(codeBytes(1001), utf8(reason)))).toEqual({ code: 1001, reason });
  });

  it.each([
    ['ff', 'a byte never in UTF-8'],
    ['c0 80', 'an overlong NUL'],
    ['ed a0 80', 'a surrogate'],
    ['ce', 'a truncated character'],
    ['48 69 e2 82', 'a truncated character after ASCII'],
  ])('rejects a reason with %s (%s): WS_ERR_INVALID_UTF8, 1007', (bad) => {
    expectProtocolError(
      () => parseClosePayload(concat(codeBytes(1000), fromHex(bad))),
      'WS_ERR_INVALID_UTF8',
      1007,
    );
  });

  it('checks the code before the reason (a bad code with a bad reason is 1002)', () => {
    expectProtocolError(() => parseClosePayload(fromHex('03ed ff')), 'WS_ERR_INVALID_CLOSE_CODE', 1002);
  });
});

describe('encodeClosePayload', () => {
  it('encodes a code as two big-endian bytes', () => {
    expect(hex(encodeClosePayload(1000))).toBe('03e8');
    expect(hex(encodeClosePayload(4999))).toBe('1387');
  });

  it('appends the reason in UTF-8', () => {
    expect(hex(encodeClosePayload(1001, 'bye'))).toBe('03e9' + '627965');
    expect(hex(encodeClosePayload(1000, '€'))).toBe('03e8' + 'e282ac');
  });

  it('encodes no code as an empty payload', () => {
    expect(encodeClosePayload()).toEqual(new Uint8Array(0));
    expect(encodeClosePayload(undefined, '')).toEqual(new Uint8Array(0));
  });

  it('rejects a reason with no code: WS_ERR_INVALID_ARGUMENT', () => {
    expectWebSocketError(() => encodeClosePayload(undefined, 'why'), 'WS_ERR_INVALID_ARGUMENT');
  });

  it.each([...FORBIDDEN, 1000.5, Number.NaN, -1000])(
    'rejects sending code %s: WS_ERR_INVALID_ARGUMENT',
    (code) => {
      const error = expectWebSocketError(() => encodeClosePayload(code), 'WS_ERR_INVALID_ARGUMENT');
      expect(error).toBeInstanceOf(WebSocketError);
    },
  );

  it.each(ALLOWED)('encodes allowed code %i', (code) => {
    expect(hex(encodeClosePayload(code))).toBe(hex(codeBytes(code)));
  });

  it('accepts a reason of 123 bytes and rejects 124 bytes, counting UTF-8 bytes', () => {
    expect(encodeClosePayload(1000, 'a'.repeat(123)).length).toBe(125);
    expectWebSocketError(() => encodeClosePayload(1000, 'a'.repeat(124)), 'WS_ERR_INVALID_ARGUMENT');
    // 41 three-byte characters are 123 bytes; one more ASCII byte makes 124.
    expect(encodeClosePayload(1000, '€'.repeat(41)).length).toBe(125);
    expectWebSocketError(() => encodeClosePayload(1000, '€'.repeat(41) + 'a'), 'WS_ERR_INVALID_ARGUMENT');
  });

  it('round-trips through parseClosePayload', () => {
    for (const code of ALLOWED) {
      expect(parseClosePayload(encodeClosePayload(code, `code ${code} ✓`))).toEqual({
        code,
        reason: `code ${code} ✓`,
      });
    }
  });
});

describe('truncateCloseReason', () => {
  it('keeps a reason that fits, to the byte', () => {
    expect(truncateCloseReason('')).toBe('');
    expect(truncateCloseReason('going away')).toBe('going away');
    expect(truncateCloseReason('x'.repeat(123))).toBe('x'.repeat(123));
    expect(truncateCloseReason('x'.repeat(120) + '€')).toBe('x'.repeat(120) + '€'); // 123 bytes
  });

  it('cuts at the last whole character that fits in 123 bytes', () => {
    expect(truncateCloseReason('x'.repeat(200))).toBe('x'.repeat(123));
    expect(truncateCloseReason('x'.repeat(121) + '€')).toBe('x'.repeat(121)); // € is 3 bytes
    expect(truncateCloseReason('x'.repeat(120) + '😀')).toBe('x'.repeat(120)); // never half a surrogate pair
    expect(truncateCloseReason('é'.repeat(100))).toBe('é'.repeat(61)); // 122 bytes
  });

  it('always gives a reason encodeClosePayload takes', () => {
    for (const reason of ['€'.repeat(50), '😀'.repeat(40), 'a' + '\ud800'.repeat(60), 'ß'.repeat(70)]) {
      const cut = truncateCloseReason(reason);
      expect(reason.startsWith(cut)).toBe(true);
      expect(encodeClosePayload(1011, cut).length).toBeLessThanOrEqual(2 + MAX_CLOSE_REASON_BYTES);
    }
  });
});
