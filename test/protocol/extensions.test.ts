/**
 * The Sec-WebSocket-Extensions parser (RFC 6455 9.1): offers, parameters, quoted values, the
 * whitespace the HTTP list syntax allows and the empty elements it tolerates (RFC 9110 5.6.1.2);
 * a header that breaks the grammar anywhere is refused whole (400, WS_ERR_HANDSHAKE_EXTENSIONS,
 * a message that says what and at which offset); the parser agrees with an independent regular
 * expression of the grammar; formatExtension() writes what parseExtensions() reads back; hostile
 * 64 KiB values are read in one pass (reads counted, not timed).
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HandshakeError } from '../../src/protocol/errors.js';
import {
  formatExtension,
  parseExtensions,
  type ExtensionOffer,
  type HeaderText,
} from '../../src/protocol/extensions.js';
import { negotiatePermessageDeflate } from '../../src/protocol/permessage-deflate.js';
import { thrown } from './helpers.js';

/** Asserts parseExtensions refuses `header` with exactly this reason and offset. */
function expectMalformed(header: string, why: string, offset: number): void {
  const error = thrown(() => parseExtensions(header));
  expect(error).toBeInstanceOf(HandshakeError);
  expect(error).toMatchObject({
    code: 'WS_ERR_HANDSHAKE_EXTENSIONS',
    status: 400,
    message: `Sec-WebSocket-Extensions: ${why} at offset ${offset}`,
  });
}

const offer = (name: string, ...params: Array<[string, string?]>): ExtensionOffer => ({
  name,
  params: params.map(([paramName, value]) => ({ name: paramName, value })),
});

describe('parseExtensions: the grammar', () => {
  it('reads one bare offer', () => {
    expect(parseExtensions('permessage-deflate')).toEqual([offer('permessage-deflate')]);
  });

  it('reads several offers, in order, with parameters with and without values', () => {
    expect(
      parseExtensions(
        'permessage-deflate; client_max_window_bits, permessage-deflate; server_max_window_bits=10; client_no_context_takeover, foo',
      ),
    ).toEqual([
      offer('permessage-deflate', ['client_max_window_bits']),
      offer('permessage-deflate', ['server_max_window_bits', '10'], ['client_no_context_takeover']),
      offer('foo'),
    ]);
  });

  it('unquotes quoted values and removes their backslash escapes', () => {
    expectMalformed('foo; a="10"; b="\\1\\0"; c="x\\y"; d=""', 'the quoted value of parameter "d" is not a token', 34); // d="" is not a token
    expect(parseExtensions('foo; a="10"; b="\\1\\0"; c="x\\y"')).toEqual([
      offer('foo', ['a', '10'], ['b', '10'], ['c', 'xy']),
    ]);
  });

  it('refuses a header with a quoted value that is not a token once unescaped (RFC 6455 9.1)', () => {
    expectMalformed('foo; a="x\\"y", bar', 'the quoted value of parameter "a" is not a token', 7);
    expectMalformed('foo; a="b=c", bar', 'the quoted value of parameter "a" is not a token', 7);
    expectMalformed('foo; a="two words", bar', 'the quoted value of parameter "a" is not a token', 7);
  });

  it('does not split at commas and semicolons inside a quoted string', () => {
    // The comma or semicolon is inside the quotes: the value `x,y` (not a token) is what is wrong.
    // A parser that split inside the quotes would see `a="x` and report an unterminated string.
    expectMalformed('foo; a="x,y", bar', 'the quoted value of parameter "a" is not a token', 7);
    expectMalformed('foo; a="x;b", bar', 'the quoted value of parameter "a" is not a token', 7);
    expectMalformed('foo; a="x,bar", baz; b', 'the quoted value of parameter "a" is not a token', 7);
    expectMalformed('foo; a="x, bar, y", baz', 'the quoted value of parameter "a" is not a token', 7);
  });

  it('allows spaces and tabs around elements, semicolons and equals signs', () => {
    expect(
      parseExtensions(' \t permessage-deflate \t; \tserver_max_window_bits \t=\t "10" \t;client_no_context_takeover\t,\tfoo ; a = b '),
    ).toEqual([
      offer('permessage-deflate', ['server_max_window_bits', '10'], ['client_no_context_takeover']),
      offer('foo', ['a', 'b']),
    ]);
  });

  it('lower-cases extension and parameter names, but not values', () => {
    expect(parseExtensions('PerMessage-Deflate; Client_Max_Window_Bits; X=AbC')).toEqual([
      offer('permessage-deflate', ['client_max_window_bits'], ['x', 'AbC']),
    ]);
  });

  it('skips empty elements of the list', () => {
    expect(parseExtensions('')).toEqual([]);
    expect(parseExtensions(' \t ')).toEqual([]);
    expect(parseExtensions(',, permessage-deflate ,, \t, foo,')).toEqual([offer('permessage-deflate'), offer('foo')]);
  });

  it.each([
    ['an empty parameter', 'foo;', 'expected a parameter name, found the end', 4],
    ['an empty parameter in the middle', 'foo;;a', 'expected a parameter name, found ";"', 4],
    ['no extension name', '; a', 'expected an extension name, found ";"', 0],
    ['a name that is not a token', 'foo bar', 'expected ";" or ",", found "b"', 4],
    ['a quoted name', '"foo"', 'expected an extension name, found "\\""', 0],
    ['a name with a separator', 'foo/bar', 'expected ";" or ",", found "/"', 3],
    ['a parameter with an empty value', 'foo; a=', 'expected a value for parameter "a", found the end', 7],
    ['a parameter with no name', 'foo; =1', 'expected a parameter name, found "="', 5],
    ['a parameter name that is not a token', 'foo; a b=1', 'expected ";" or ",", found "b"', 7],
    ['a value that is not a token', 'foo; a==1', 'expected a value for parameter "a", found "="', 7],
    ['a value with a space', 'foo; a=1 2', 'expected ";" or ",", found "2"', 9],
    ['a quoted value with text after it', 'foo; a="1"2', 'expected ";" or ",", found "2"', 10],
    ['a non-ASCII name', 'fóo', 'expected ";" or ",", found U+00F3', 1],
    ['a NUL after the name', 'foo\u0000', 'expected ";" or ",", found U+0000', 3],
    ['a line break (obs-fold is not unfolded here)', 'foo;\r\n a', 'expected a parameter name, found U+000D', 4],
  ])('refuses a header with %s (%j): 400, saying what and where, alone or among valid elements', (_what, garbage, why, offset) => {
    expectMalformed(garbage, why, offset);
    // Valid elements around it change nothing: the header is refused, at the same element.
    const prefix = 'permessage-deflate, ';
    expectMalformed(`${prefix}${garbage}`, why, prefix.length + offset);
    const error = thrown(() => parseExtensions(`${prefix}${garbage}, foo; b=2`)) as HandshakeError;
    expect(error).toMatchObject({ code: 'WS_ERR_HANDSHAKE_EXTENSIONS', status: 400 });
    // What is found there may now be the "," rather than the end; the reason and offset stay.
    expect(error.message.startsWith(`Sec-WebSocket-Extensions: ${why.split(', found')[0]}`)).toBe(true);
    expect(error.message.endsWith(` at offset ${prefix.length + offset}`)).toBe(true);
  });

  it('refuses a list full of garbage at its first malformed element', () => {
    expectMalformed(
      '@@@, permessage-deflate; x, ;;, a b, permessage-deflate; server_no_context_takeover, =, foo; a="1"',
      'expected an extension name, found "@"',
      0,
    );
    expectMalformed('permessage-deflate; x, ;;, foo', 'expected an extension name, found ";"', 23);
  });

  it('an unterminated quote makes the header malformed, wherever it is', () => {
    expectMalformed('permessage-deflate, foo; a="abc', 'unterminated quoted string', 27);
    // The quote swallows the rest of the header: the offer after it is inside the string.
    expectMalformed('foo; a="abc, permessage-deflate', 'unterminated quoted string', 7);
    expectMalformed('permessage-deflate; a="x\\"', 'unterminated quoted string', 22); // the closing quote is escaped
    expectMalformed('foo; a="x\\', 'unterminated quoted string', 7); // a backslash escaping nothing
    expectMalformed('"', 'expected an extension name, found "\\""', 0);
  });

  it('an escaped quote does not close a quoted string', () => {
    // Closed at the escaped quote, `x\` would be the value and `bar"` an unexpected character.
    expectMalformed('foo; a="x\\", bar", baz', 'the quoted value of parameter "a" is not a token', 7);
    expectMalformed('foo; a="x\\", bar, y", baz', 'the quoted value of parameter "a" is not a token', 7);
  });

  it('is a HandshakeError with a stable code and status 400', () => {
    const error = thrown(() => parseExtensions('foo;'));
    expect(error).toBeInstanceOf(HandshakeError);
    expect(error).toMatchObject({ name: 'HandshakeError', code: 'WS_ERR_HANDSHAKE_EXTENSIONS', status: 400, headers: {} });
  });
});

describe('formatExtension', () => {
  it('writes "name; param; param=value"', () => {
    expect(formatExtension(offer('permessage-deflate'))).toBe('permessage-deflate');
    expect(
      formatExtension(offer('permessage-deflate', ['server_no_context_takeover'], ['client_max_window_bits', '10'])),
    ).toBe('permessage-deflate; server_no_context_takeover; client_max_window_bits=10');
  });
});

// ---- properties -----------------------------------------------------------------------------

const TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".split('');
const token = fc.string({ unit: fc.constantFrom(...TCHARS), minLength: 1, maxLength: 10 });
const param = fc.record({ name: token, value: fc.option(token, { nil: undefined }) });
const validOffer = fc.record({ name: token, params: fc.array(param, { maxLength: 5 }) });
const space = fc.constantFrom('', ' ', '\t', ' \t ');

const lowered = (o: ExtensionOffer): ExtensionOffer => ({
  name: o.name.toLowerCase(),
  params: o.params.map((p) => ({ name: p.name.toLowerCase(), value: p.value })),
});

/**
 * The grammar as one regular expression, written independently of the parser (fine here: the
 * inputs are short). A quoted value must unescape to a token, so it is `"` then tchars, each
 * optionally escaped, then `"`.
 */
const T = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]";
const OWS = '[ \\t]*';
const QUOTED_TOKEN = `"(?:\\\\?${T})+"`;
const PARAM = `${T}+(?:${OWS}=${OWS}(?:${T}+|${QUOTED_TOKEN}))?`;
const ELEMENT = `${T}+(?:${OWS};${OWS}${PARAM})*`;
const GRAMMAR = new RegExp(`^${OWS}(?:${ELEMENT})?(?:${OWS},${OWS}(?:${ELEMENT})?)*${OWS}$`);

describe('parseExtensions: properties', () => {
  const hostileUnit = fc.constantFrom(
    ...'",;= \t\\\r\nabc0é\u0000'.split(''),
    'permessage-deflate',
    'server_max_window_bits',
  );
  const hostile = fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.string({ unit: hostileUnit, maxLength: 60 }));

  it('returns only lower-case token names and token values, or refuses with a 400 inside the header (arbitrary strings)', () => {
    const isToken = (s: string): boolean => s.length > 0 && [...s].every((c) => TCHARS.includes(c));
    fc.assert(
      fc.property(hostile, (header) => {
        let offers: ExtensionOffer[];
        try {
          offers = parseExtensions(header);
        } catch (error) {
          expect(error).toBeInstanceOf(HandshakeError);
          expect(error).toMatchObject({ code: 'WS_ERR_HANDSHAKE_EXTENSIONS', status: 400 });
          const match = /^Sec-WebSocket-Extensions: .+ at offset (\d+)$/.exec((error as Error).message);
          expect(match).not.toBeNull();
          expect(Number(match![1])).toBeLessThanOrEqual(header.length);
          return;
        }
        for (const o of offers) {
          expect(isToken(o.name) && o.name === o.name.toLowerCase()).toBe(true);
          for (const p of o.params) {
            expect(isToken(p.name) && p.name === p.name.toLowerCase()).toBe(true);
            if (p.value !== undefined) expect(isToken(p.value)).toBe(true);
          }
        }
        // The negotiation runs on whatever the parser returns: it must not throw.
        negotiatePermessageDeflate(offers, {
          serverNoContextTakeover: false,
          clientNoContextTakeover: false,
          serverMaxWindowBits: 15,
          clientMaxWindowBits: 15,
        });
      }),
      { seed: 7692, numRuns: 2000 },
    );
  });

  it('accepts exactly the headers the grammar accepts (an independent regular expression)', () => {
    // Mostly near-valid input, so both outcomes are common.
    const nearValid = fc.string({ unit: fc.constantFrom(...'ab;;,, \t="\\'.split(''), 'x=1', '"y"', '\\z'), maxLength: 24 });
    let accepted = 0;
    fc.assert(
      fc.property(fc.oneof(nearValid, hostile), (header) => {
        const parsed = (() => {
          try {
            parseExtensions(header);
            return true;
          } catch {
            return false;
          }
        })();
        expect({ header, parsed }).toEqual({ header, parsed: GRAMMAR.test(header) });
        if (parsed) accepted++;
      }),
      { seed: 9110, numRuns: 3000 },
    );
    // The property means something only if both outcomes occurred often.
    expect(accepted).toBeGreaterThan(300);
    expect(accepted).toBeLessThan(2700);
  });

  it('formatExtension(parseExtensions(x)) round-trips generated valid offers', () => {
    fc.assert(
      fc.property(fc.array(validOffer, { minLength: 1, maxLength: 5 }), (offers) => {
        const header = offers.map(formatExtension).join(', ');
        const parsed = parseExtensions(header);
        expect(parsed).toEqual(offers.map(lowered));
        expect(parsed.map(formatExtension).join(', ')).toBe(offers.map((o) => formatExtension(lowered(o))).join(', '));
      }),
      { seed: 6455, numRuns: 500 },
    );
  });

  it('reads the same offers back whatever the whitespace, quoting and escaping', () => {
    const written = fc.array(
      fc.record({
        offer: validOffer,
        spaces: fc.array(space, { minLength: 8, maxLength: 8 }),
        quote: fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }),
        escapes: fc.array(fc.boolean(), { minLength: 10, maxLength: 10 }),
      }),
      { minLength: 1, maxLength: 4 },
    );
    fc.assert(
      fc.property(written, (elements) => {
        const header = elements
          .map(({ offer: o, spaces: s, quote, escapes }) => {
            let out = `${s[0]}${o.name}${s[1]}`;
            o.params.forEach((p, i) => {
              out += `;${s[2]}${p.name}`;
              if (p.value === undefined) return;
              const value = quote[i]
                ? `"${[...p.value].map((c, k) => (escapes[k] ? `\\${c}` : c)).join('')}"`
                : p.value;
              out += `${s[3]}=${s[4]}${value}${s[5]}`;
            });
            return out + s[6];
          })
          .join(`,${elements[0]!.spaces[7]}`);
        expect(parseExtensions(header)).toEqual(elements.map((e) => lowered(e.offer)));
      }),
      { seed: 1951, numRuns: 500 },
    );
  });
});

// ---- linear time ------------------------------------------------------------------------------

const K64 = 64 * 1024;

/** `text` as the parser's input, counting every character it reads (charCodeAt, and slice lengths). */
function counted(text: string): { source: HeaderText; reads: () => number } {
  let reads = 0;
  const source: HeaderText = {
    length: text.length,
    charCodeAt(index) {
      reads++;
      return text.charCodeAt(index);
    },
    slice(start, end) {
      reads += end - start;
      return text.slice(start, end);
    },
  };
  return { source, reads: () => reads };
}

/**
 * Linearity by counting, not timing: the parser reads each character a bounded number of times
 * (at most 4: the whitespace skip, the separator check, the token scan, and the slice that copies
 * it), so 64 KiB costs at most 256 Ki reads, where any re-scanning parser would need billions.
 */
describe('parseExtensions: hostile 64 KiB values are read in one pass', () => {
  const config = {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: 15,
    clientMaxWindowBits: 15,
  };
  type Outcome = number | { why: string; offset: number };
  const cases: Array<[string, string, Outcome]> = [
    ['quotes', '"'.repeat(K64), { why: 'expected an extension name, found "\\""', offset: 0 }],
    ['semicolons', ';'.repeat(K64), { why: 'expected an extension name, found ";"', offset: 0 }],
    ['commas', ','.repeat(K64), 0],
    ['commas and spaces', ' , \t'.repeat(K64 / 4), 0],
    ['"a;" repeated', 'a;'.repeat(K64 / 2), { why: 'expected a parameter name, found the end', offset: K64 }],
    ['"\\"" repeated', '\\"'.repeat(K64 / 2), { why: 'expected an extension name, found "\\\\"', offset: 0 }],
    ['an unterminated quoted value', `permessage-deflate; x="${'a'.repeat(65530)}`, { why: 'unterminated quoted string', offset: 22 }],
    ['an unterminated quoted value of escapes', `permessage-deflate; x="${'\\a'.repeat(32760)}`, { why: 'unterminated quoted string', offset: 22 }],
    ['a quoted value made of escapes', `permessage-deflate; x="${'\\a'.repeat(32760)}"`, 1],
    ['a quoted value, not a token, at the very end', `permessage-deflate; x="${'a'.repeat(65530)} "`, { why: 'the quoted value of parameter "x" is not a token', offset: 22 }],
    ['"a=" repeated', 'a='.repeat(K64 / 2), { why: 'expected ";" or ",", found "="', offset: 1 }],
    ['"; a" parameters', `permessage-deflate${'; a'.repeat(21845)}`, 1],
    ['"; a" parameters, then a trailing ";"', `permessage-deflate${'; a'.repeat(21845)};`, { why: 'expected a parameter name, found the end', offset: 18 + 3 * 21845 + 1 }],
    ['"a, " elements', 'a, '.repeat(21845), 21845],
    ['"a, " elements, then one bad character', `${'a, '.repeat(21845)}@`, { why: 'expected an extension name, found "@"', offset: 3 * 21845 }],
    ['declined offers', 'permessage-deflate; server_max_window_bits=16, '.repeat(1394), 1394],
    ['a token', `permessage-deflate${'e'.repeat(K64)}`, 1],
    ['spaces, then a token', `${' '.repeat(K64)}x`, 1],
  ];

  it.each(cases)('%s: at most 4 reads per character, with the expected result', (_what, header, outcome) => {
    expect(header.length).toBeGreaterThanOrEqual(K64 - 64);
    const { source, reads } = counted(header);
    if (typeof outcome === 'number') {
      const offers = parseExtensions(source);
      expect(offers).toHaveLength(outcome);
      negotiatePermessageDeflate(offers, config);
    } else {
      const error = thrown(() => parseExtensions(source));
      expect(error).toMatchObject({
        code: 'WS_ERR_HANDSHAKE_EXTENSIONS',
        message: `Sec-WebSocket-Extensions: ${outcome.why} at offset ${outcome.offset}`,
      });
    }
    expect(reads()).toBeLessThanOrEqual(4 * header.length + 4);
  });
});
