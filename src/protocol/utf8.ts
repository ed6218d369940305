/**
 * Incremental, fail-fast UTF-8 validation (RFC 3629 section 4, the only well-formed sequences).
 *
 * RFC 6455 8.1: an endpoint that receives text that is not valid UTF-8 MUST fail the connection.
 * Autobahn 6.4.x checks that this happens as soon as the first invalid byte arrives, even in the
 * middle of a fragmented message or of a frame still arriving, so the validator keeps its state
 * between calls and rejects at the first byte that no valid sequence can continue with.
 */

/** The state between two calls: 0 means "at a character boundary". */
export type Utf8State = number;

export const UTF8_ACCEPT: Utf8State = 0;
export const UTF8_REJECT: Utf8State = -1;

// States other than ACCEPT say what the next byte must be:
const NEED1 = 1; // one more 80..BF
const NEED2 = 2; // two more 80..BF
const NEED3 = 3; // three more 80..BF
const AFTER_E0 = 4; // A0..BF, then one 80..BF (no overlong 3-byte forms)
const AFTER_ED = 5; // 80..9F, then one 80..BF (no UTF-16 surrogates D800..DFFF)
const AFTER_F0 = 6; // 90..BF, then two 80..BF (no overlong 4-byte forms)
const AFTER_F4 = 7; // 80..8F, then two 80..BF (nothing above U+10FFFF)

/**
 * Feeds `bytes[start..end)` to the validator. Returns the new state, or UTF8_REJECT at the first
 * byte that makes the text invalid. A message is valid when the final state is UTF8_ACCEPT.
 */
export function validateUtf8(
  bytes: Uint8Array,
  start: number,
  end: number,
  state: Utf8State,
): Utf8State {
  let i = start;
  while (i < end) {
    const b = bytes[i++]!;
    if (state === UTF8_ACCEPT) {
      if (b < 0x80) continue;
      if (b < 0xc2) return UTF8_REJECT; // continuation byte or overlong 2-byte lead
      if (b < 0xe0) state = NEED1;
      else if (b === 0xe0) state = AFTER_E0;
      else if (b === 0xed) state = AFTER_ED;
      else if (b < 0xf0) state = NEED2;
      else if (b === 0xf0) state = AFTER_F0;
      else if (b < 0xf4) state = NEED3;
      else if (b === 0xf4) state = AFTER_F4;
      else return UTF8_REJECT; // F5..FF never appear in UTF-8
      continue;
    }
    switch (state) {
      case NEED1:
      case NEED2:
      case NEED3:
        if ((b & 0xc0) !== 0x80) return UTF8_REJECT;
        state -= 1;
        break;
      case AFTER_E0:
        if (b < 0xa0 || b > 0xbf) return UTF8_REJECT;
        state = NEED1;
        break;
      case AFTER_ED:
        if (b < 0x80 || b > 0x9f) return UTF8_REJECT;
        state = NEED1;
        break;
      case AFTER_F0:
        if (b < 0x90 || b > 0xbf) return UTF8_REJECT;
        state = NEED2;
        break;
      case AFTER_F4:
        if (b < 0x80 || b > 0x8f) return UTF8_REJECT;
        state = NEED2;
        break;
      default:
        return UTF8_REJECT;
    }
  }
  return state;
}

/** Whole-buffer check: true when `bytes` is complete, well-formed UTF-8. */
export function isValidUtf8(bytes: Uint8Array): boolean {
  return validateUtf8(bytes, 0, bytes.length, UTF8_ACCEPT) === UTF8_ACCEPT;
}

/**
 * validateUtf8 with the same result, faster for long ranges: the bulk of the range goes to a
 * whole-buffer check (`isUtf8`, Node's SIMD one in the Node layer), and only a character begun
 * before the range and the last few bytes, where a character may be cut off by the range's end,
 * are walked byte by byte. If the bulk is not valid, the byte-by-byte walk finds the first bad
 * byte and the state is exactly validateUtf8's, so failing fast is unchanged.
 */
export function validateUtf8Bulk(
  bytes: Uint8Array,
  start: number,
  end: number,
  state: Utf8State,
  isUtf8: (bytes: Uint8Array) => boolean,
): Utf8State {
  let i = start;
  // Finish a character begun in an earlier range (at most 3 bytes).
  while (state !== UTF8_ACCEPT && i < end) {
    state = validateUtf8(bytes, i, i + 1, state);
    if (state === UTF8_REJECT) return state;
    i++;
  }
  if (end - i < BULK_MIN) return validateUtf8(bytes, i, end, state);
  // The bulk ends just before a byte that is not a continuation byte, so a valid bulk ends on a
  // character boundary; the few bytes after it are walked from UTF8_ACCEPT.
  let boundary = end - 4;
  for (let k = 0; k < 3 && (bytes[boundary]! & 0xc0) === 0x80; k++) boundary--;
  if (!isUtf8(bytes.subarray(i, boundary))) return validateUtf8(bytes, i, end, UTF8_ACCEPT);
  return validateUtf8(bytes, boundary, end, UTF8_ACCEPT);
}

// Below this many bytes the call to the whole-buffer check costs more than the walk.
const BULK_MIN = 64;
