/**
 * Sec-WebSocket-Extensions (RFC 6455 9.1), with the implied linear whitespace of RFC 2616 (OWS):
 *
 *   extension-list  = 1#extension
 *   extension       = extension-token *( ";" extension-param )
 *   extension-param = token [ "=" (token | quoted-string) ]
 *       ; a quoted-string value, once unescaped, MUST conform to the token rule
 *
 * Strict: 9.1 says the recipient of a value that breaks this grammar MUST fail the connection, so
 * any malformed element makes the whole header an error (a server answers 400, RFC 6455 4.2.1),
 * never a skipped element. Empty list elements (`a, , b`, a leading or trailing comma) are not
 * malformed: RFC 9110 5.6.1.2 says a recipient MUST parse and ignore them. A value with no element
 * at all reads as no offer, as if the header were absent.
 *
 * One pass over the characters, each read a bounded number of times, no regular expression: any
 * value costs linear time.
 */

import { HandshakeError } from './errors.js';
import { isTokenChar, isWhitespace } from './http-syntax.js';

/** One parameter of an extension offer: `server_max_window_bits=10`, `client_no_context_takeover`. */
export interface ExtensionParam {
  /** Lower-cased, as parameter names are case-insensitive tokens. */
  readonly name: string;
  /** undefined for a parameter without a value; quoted values are unescaped. */
  readonly value: string | undefined;
}

/** One element of a Sec-WebSocket-Extensions header: an extension's name and its parameters. */
export interface ExtensionOffer {
  /** Lower-cased, as extension names are case-insensitive tokens. */
  readonly name: string;
  /** The parameters in the order sent; a repeated one is kept twice (the extension decides). */
  readonly params: readonly ExtensionParam[];
}

/**
 * What the parser reads its input through: a string is one. (A test passes a wrapper that counts
 * the reads, to check the pass is linear without timing it.)
 */
export interface HeaderText {
  readonly length: number;
  charCodeAt(index: number): number;
  slice(start: number, end: number): string;
}

const COMMA = 0x2c;
const SEMICOLON = 0x3b;
const EQUALS = 0x3d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Parses a header value into its elements, in order. Throws a HandshakeError
 * (WS_ERR_HANDSHAKE_EXTENSIONS, status 400) that says what is wrong and at which offset.
 */
export function parseExtensions(header: HeaderText): ExtensionOffer[] {
  const n = header.length;
  const offers: ExtensionOffer[] = [];
  let i = 0;
  for (;;) {
    i = skipWhitespace(header, i);
    if (i === n) return offers;
    if (header.charCodeAt(i) === COMMA) {
      i++; // an empty element
      continue;
    }
    const nameEnd = scanToken(header, i);
    if (nameEnd === i) throw unexpected(header, 'an extension name', i);
    const name = header.slice(i, nameEnd).toLowerCase();
    const params: ExtensionParam[] = [];
    i = nameEnd;
    for (;;) {
      i = skipWhitespace(header, i);
      if (i === n) break;
      const c = header.charCodeAt(i);
      if (c === COMMA) {
        i++;
        break;
      }
      if (c !== SEMICOLON) throw unexpected(header, '";" or ","', i);
      i = skipWhitespace(header, i + 1);
      const paramEnd = scanToken(header, i);
      // Catches ";;", a trailing ";" and "; =1".
      if (paramEnd === i) throw unexpected(header, 'a parameter name', i);
      const paramName = header.slice(i, paramEnd).toLowerCase();
      i = skipWhitespace(header, paramEnd);
      let value: string | undefined;
      if (i < n && header.charCodeAt(i) === EQUALS) {
        i = skipWhitespace(header, i + 1);
        if (i < n && header.charCodeAt(i) === QUOTE) {
          const quoted = readQuotedToken(header, i, paramName);
          value = quoted.value;
          i = quoted.end;
        } else {
          const valueEnd = scanToken(header, i);
          if (valueEnd === i) throw unexpected(header, `a value for parameter "${paramName}"`, i);
          value = header.slice(i, valueEnd);
          i = valueEnd;
        }
      }
      params.push({ name: paramName, value });
    }
    offers.push({ name, params });
  }
}

function skipWhitespace(text: HeaderText, i: number): number {
  while (i < text.length && isWhitespace(text.charCodeAt(i))) i++;
  return i;
}

function scanToken(text: HeaderText, i: number): number {
  while (i < text.length && isTokenChar(text.charCodeAt(i))) i++;
  return i;
}

/**
 * The quoted string opening at `start` (RFC 9110 5.6.4: backslash escapes the next character),
 * unescaped; RFC 6455 9.1: the result must be a token. Scans to the closing quote first, so an
 * unterminated string is reported as such whatever it holds.
 */
function readQuotedToken(text: HeaderText, start: number, param: string): { value: string; end: number } {
  let value = '';
  let pieceStart = start + 1;
  let isToken = true;
  for (let i = start + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      value += text.slice(pieceStart, i);
      if (!isToken || value.length === 0) {
        throw malformed(`the quoted value of parameter "${param}" is not a token`, start);
      }
      return { value, end: i + 1 };
    }
    if (c === BACKSLASH) {
      if (i + 1 >= text.length) break; // the backslash escapes nothing: the string is left open
      value += text.slice(pieceStart, i);
      pieceStart = i + 1;
      i++;
      if (!isTokenChar(text.charCodeAt(i))) isToken = false;
    } else if (!isTokenChar(c)) isToken = false;
  }
  throw malformed('unterminated quoted string', start);
}

/** `expected ..., found X at offset N`: what the grammar wanted where it did not get it. */
function unexpected(text: HeaderText, wanted: string, offset: number): HandshakeError {
  const found = offset < text.length ? describe(text.charCodeAt(offset)) : 'the end';
  return malformed(`expected ${wanted}, found ${found}`, offset);
}

function malformed(why: string, offset: number): HandshakeError {
  return new HandshakeError('WS_ERR_HANDSHAKE_EXTENSIONS', 400, `Sec-WebSocket-Extensions: ${why} at offset ${offset}`);
}

function describe(c: number): string {
  if (c > 0x20 && c < 0x7f) return JSON.stringify(String.fromCharCode(c));
  return `U+${c.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** Formats one extension for a header: `name; a; b=1`. */
export function formatExtension(offer: ExtensionOffer): string {
  let out = offer.name;
  for (const param of offer.params) {
    out += param.value === undefined ? `; ${param.name}` : `; ${param.name}=${param.value}`;
  }
  return out;
}
