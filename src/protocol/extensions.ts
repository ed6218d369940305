/**
 * Sec-WebSocket-Extensions (RFC 6455 9.1):
 *
 *   extension-list = 1#extension
 *   extension      = extension-token *( ";" extension-param )
 *   extension-param = token [ "=" (token | quoted-string) ]
 *
 * One pass over the characters, no regular expression, so any value costs linear time. An element
 * (between top-level commas) that breaks the grammar is skipped whole, and the others still count:
 * a client's garbage cannot hide a valid offer, nor make us accept a malformed one.
 */

import { isToken } from './handshake.js';

export interface ExtensionParam {
  readonly name: string;
  /** undefined for a parameter without a value; quoted values are unescaped. */
  readonly value: string | undefined;
}

export interface ExtensionOffer {
  /** Lower-cased, as extension names are case-insensitive tokens. */
  readonly name: string;
  readonly params: readonly ExtensionParam[];
}

const COMMA = 0x2c;
const SEMICOLON = 0x3b;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Splits `text[start..end)` at `separator` outside quoted strings, calling `each` with the bounds of
 * every piece. Returns false if a quoted string is left open (the last piece is then malformed and
 * not passed on).
 */
function splitOutsideQuotes(
  text: string,
  start: number,
  end: number,
  separator: number,
  each: (from: number, to: number) => void,
): boolean {
  let pieceStart = start;
  let inQuotes = false;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (inQuotes) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inQuotes = false;
    } else if (c === QUOTE) {
      inQuotes = true;
    } else if (c === separator) {
      each(pieceStart, i);
      pieceStart = i + 1;
    }
  }
  if (inQuotes) return false;
  each(pieceStart, end);
  return true;
}

/** Parses a header value into its well-formed elements, in order. */
export function parseExtensions(header: string): ExtensionOffer[] {
  const offers: ExtensionOffer[] = [];
  splitOutsideQuotes(header, 0, header.length, COMMA, (from, to) => {
    const offer = parseElement(header, from, to);
    if (offer !== undefined) offers.push(offer);
  });
  return offers;
}

/** One element, `header[start..end)`: undefined if malformed or empty. */
function parseElement(header: string, start: number, end: number): ExtensionOffer | undefined {
  const parts: string[] = [];
  const closed = splitOutsideQuotes(header, start, end, SEMICOLON, (from, to) => {
    parts.push(trim(header, from, to));
  });
  // An empty element (",,") is allowed by the list syntax and means nothing; an empty part is not.
  if (!closed || parts.some((part) => part === '')) return undefined;
  const name = parts[0]!;
  if (!isToken(name)) return undefined;
  const params: ExtensionParam[] = [];
  for (let k = 1; k < parts.length; k++) {
    const param = parseParam(parts[k]!);
    if (param === undefined) return undefined;
    params.push(param);
  }
  return { name: name.toLowerCase(), params };
}

function parseParam(part: string): ExtensionParam | undefined {
  const eq = part.indexOf('=');
  if (eq < 0) return isToken(part) ? { name: part.toLowerCase(), value: undefined } : undefined;
  const name = trim(part, 0, eq);
  let value = trim(part, eq + 1, part.length);
  if (!isToken(name)) return undefined;
  if (value.length >= 2 && value.charCodeAt(0) === QUOTE && value.charCodeAt(value.length - 1) === QUOTE) {
    const unquoted = unquote(value);
    if (unquoted === undefined) return undefined;
    value = unquoted;
  }
  // RFC 6455 9.1: a quoted value, once unescaped, must still be a token.
  if (!isToken(value)) return undefined;
  return { name: name.toLowerCase(), value };
}

/** `"..."` with backslash escapes -> its content; undefined if a quote is left unescaped inside. */
function unquote(quoted: string): string | undefined {
  let out = '';
  for (let i = 1; i < quoted.length - 1; i++) {
    let c = quoted[i]!;
    if (c === '\\') {
      i++;
      if (i >= quoted.length - 1) return undefined;
      c = quoted[i]!;
    } else if (c === '"') return undefined;
    out += c;
  }
  return out;
}

function trim(text: string, start: number, end: number): string {
  while (start < end && isSpace(text.charCodeAt(start))) start++;
  while (end > start && isSpace(text.charCodeAt(end - 1))) end--;
  return text.slice(start, end);
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/** Formats one extension for a response header: `name; a; b=1`. */
export function formatExtension(offer: ExtensionOffer): string {
  let out = offer.name;
  for (const param of offer.params) {
    out += param.value === undefined ? `; ${param.name}` : `; ${param.name}=${param.value}`;
  }
  return out;
}
