/**
 * permessage-deflate negotiation, server side (RFC 7692 section 7), through parseExtensions and
 * negotiatePermessageDeflate: which offer is accepted, which are declined (and the next one tried),
 * and the exact response element. Each rule is its own test. The same rules over the wire (the
 * 101's Sec-WebSocket-Extensions header) are in test/node/deflate.test.ts.
 */

import { describe, expect, it } from 'vitest';
import { parseExtensions } from '../../src/protocol/extensions.js';
import {
  negotiatePermessageDeflate,
  type DeflateAgreement,
  type DeflateConfig,
} from '../../src/protocol/permessage-deflate.js';

const DEFAULT_CONFIG: DeflateConfig = {
  serverNoContextTakeover: false,
  clientNoContextTakeover: false,
  serverMaxWindowBits: 15,
  clientMaxWindowBits: 15,
};

function negotiate(header: string, config: Partial<DeflateConfig> = {}): DeflateAgreement | undefined {
  return negotiatePermessageDeflate(parseExtensions(header), { ...DEFAULT_CONFIG, ...config });
}

function agreement(response: string, fields: Partial<Omit<DeflateAgreement, 'response'>> = {}): DeflateAgreement {
  return {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: 15,
    clientMaxWindowBits: 15,
    ...fields,
    response,
  };
}

/** The agreement for the fallback offer that follows each declined one below. */
const FALLBACK = 'permessage-deflate; client_no_context_takeover';
const FALLBACK_AGREEMENT = agreement('permessage-deflate; client_no_context_takeover', { clientNoContextTakeover: true });

describe('accepting an offer', () => {
  it('accepts a bare offer with a bare response', () => {
    expect(negotiate('permessage-deflate')).toEqual(agreement('permessage-deflate'));
  });

  it('the first acceptable offer wins', () => {
    expect(negotiate('permessage-deflate; server_max_window_bits=10, permessage-deflate; client_no_context_takeover')).toEqual(
      agreement('permessage-deflate; server_max_window_bits=10', { serverMaxWindowBits: 10 }),
    );
    expect(negotiate(`${FALLBACK}, permessage-deflate; server_max_window_bits=10`)).toEqual(FALLBACK_AGREEMENT);
  });

  it('an empty header or a header with no permessage-deflate offer is declined', () => {
    expect(negotiate('')).toBeUndefined();
    expect(negotiate('x-webkit-deflate-frame, foo; a=1, deflate-frame')).toBeUndefined();
  });

  it('other extensions are ignored, before and after the offer', () => {
    expect(negotiate('x-webkit-deflate-frame, foo; server_no_context_takeover, permessage-deflate, bar')).toEqual(
      agreement('permessage-deflate'),
    );
    expect(negotiate('x-webkit-deflate-frame; no_context_takeover, permessage-deflate; client_no_context_takeover')).toEqual(
      FALLBACK_AGREEMENT,
    );
  });

  it('extension and parameter names are case-insensitive; the response is lower-case', () => {
    expect(negotiate('PerMessage-Deflate; SERVER_NO_CONTEXT_TAKEOVER; Client_Max_Window_Bits')).toEqual(
      agreement('permessage-deflate; server_no_context_takeover', { serverNoContextTakeover: true }),
    );
  });

  it('quoted values are accepted ("10" is 10)', () => {
    expect(negotiate('permessage-deflate; server_max_window_bits="10"; client_max_window_bits="12"')).toEqual(
      agreement('permessage-deflate; server_max_window_bits=10; client_max_window_bits=12', {
        serverMaxWindowBits: 10,
        clientMaxWindowBits: 12,
      }),
    );
  });
});

describe('declining an offer and trying the next one (RFC 7692 7.1)', () => {
  const declined: Array<[string, string]> = [
    ['an unknown parameter', 'permessage-deflate; foo'],
    ['an unknown parameter with a value', 'permessage-deflate; x=1'],
    ['a parameter of another extension', 'permessage-deflate; no_context_takeover'],
    ['a duplicated server_no_context_takeover', 'permessage-deflate; server_no_context_takeover; server_no_context_takeover'],
    ['a duplicated client_no_context_takeover', 'permessage-deflate; client_no_context_takeover; client_no_context_takeover'],
    ['a duplicated server_max_window_bits', 'permessage-deflate; server_max_window_bits=10; server_max_window_bits=10'],
    ['a duplicated client_max_window_bits', 'permessage-deflate; client_max_window_bits; client_max_window_bits=10'],
    ['a duplicate in another case', 'permessage-deflate; Server_No_Context_Takeover; server_no_context_takeover'],
    ['a value on server_no_context_takeover', 'permessage-deflate; server_no_context_takeover=1'],
    ['a quoted value on server_no_context_takeover', 'permessage-deflate; server_no_context_takeover="true"'],
    ['a value on client_no_context_takeover', 'permessage-deflate; client_no_context_takeover=1'],
    ['server_max_window_bits without a value', 'permessage-deflate; server_max_window_bits'],
    ['server_max_window_bits=7', 'permessage-deflate; server_max_window_bits=7'],
    ['server_max_window_bits=16', 'permessage-deflate; server_max_window_bits=16'],
    ['server_max_window_bits=0', 'permessage-deflate; server_max_window_bits=0'],
    ['server_max_window_bits=08 (leading zero)', 'permessage-deflate; server_max_window_bits=08'],
    ['server_max_window_bits=015 (leading zero)', 'permessage-deflate; server_max_window_bits=015'],
    ['server_max_window_bits="08" (quoted, leading zero)', 'permessage-deflate; server_max_window_bits="08"'],
    ['server_max_window_bits=-9', 'permessage-deflate; server_max_window_bits=-9'],
    ['server_max_window_bits=+9', 'permessage-deflate; server_max_window_bits=+9'],
    ['server_max_window_bits=10.0', 'permessage-deflate; server_max_window_bits=10.0'],
    ['server_max_window_bits=1e1', 'permessage-deflate; server_max_window_bits=1e1'],
    ['server_max_window_bits=0x0a', 'permessage-deflate; server_max_window_bits=0x0a'],
    ['client_max_window_bits=7', 'permessage-deflate; client_max_window_bits=7'],
    ['client_max_window_bits=16', 'permessage-deflate; client_max_window_bits=16'],
    ['client_max_window_bits=08 (leading zero)', 'permessage-deflate; client_max_window_bits=08'],
    ['client_max_window_bits=015 (leading zero)', 'permessage-deflate; client_max_window_bits=015'],
    ['client_max_window_bits=ten', 'permessage-deflate; client_max_window_bits=ten'],
  ];

  it.each(declined)('an offer with %s is declined, and the next offer is accepted', (_what, offer) => {
    // The parser keeps these offers (they are well-formed): the negotiation must decline them.
    expect(parseExtensions(offer)).toHaveLength(1);
    expect(negotiate(offer)).toBeUndefined();
    expect(negotiate(`${offer}, ${FALLBACK}`)).toEqual(FALLBACK_AGREEMENT);
    // Also after an acceptable offer of another extension, and before another declined one.
    expect(negotiate(`foo, ${offer}, ${offer}, ${FALLBACK}`)).toEqual(FALLBACK_AGREEMENT);
  });

  it('an offer the parser drops (a value that is not a token) does not stop the next one', () => {
    expect(negotiate(`permessage-deflate; server_max_window_bits="1 0", ${FALLBACK}`)).toEqual(FALLBACK_AGREEMENT);
  });

  it('no acceptable offer: nothing is agreed', () => {
    expect(
      negotiate('permessage-deflate; server_max_window_bits=16, permessage-deflate; foo, permessage-deflate; client_max_window_bits=08'),
    ).toBeUndefined();
  });
});

describe('the response', () => {
  it('server_no_context_takeover offered: echoed', () => {
    expect(negotiate('permessage-deflate; server_no_context_takeover')).toEqual(
      agreement('permessage-deflate; server_no_context_takeover', { serverNoContextTakeover: true }),
    );
  });

  it('our serverNoContextTakeover: included though not offered', () => {
    expect(negotiate('permessage-deflate', { serverNoContextTakeover: true })).toEqual(
      agreement('permessage-deflate; server_no_context_takeover', { serverNoContextTakeover: true }),
    );
  });

  it('client_no_context_takeover offered: included', () => {
    expect(negotiate('permessage-deflate; client_no_context_takeover')).toEqual(FALLBACK_AGREEMENT);
  });

  it('our clientNoContextTakeover: included though not offered (RFC 7692 7.1.1.2)', () => {
    expect(negotiate('permessage-deflate', { clientNoContextTakeover: true })).toEqual(FALLBACK_AGREEMENT);
  });

  it('server_max_window_bits=10 offered: the response says server_max_window_bits=10', () => {
    expect(negotiate('permessage-deflate; server_max_window_bits=10')).toEqual(
      agreement('permessage-deflate; server_max_window_bits=10', { serverMaxWindowBits: 10 }),
    );
  });

  it('server_max_window_bits: the smaller of the offer and our serverMaxWindowBits', () => {
    expect(negotiate('permessage-deflate; server_max_window_bits=10', { serverMaxWindowBits: 9 })).toEqual(
      agreement('permessage-deflate; server_max_window_bits=9', { serverMaxWindowBits: 9 }),
    );
    expect(negotiate('permessage-deflate; server_max_window_bits=10', { serverMaxWindowBits: 12 })).toEqual(
      agreement('permessage-deflate; server_max_window_bits=10', { serverMaxWindowBits: 10 }),
    );
    expect(negotiate('permessage-deflate; server_max_window_bits=8')).toEqual(
      agreement('permessage-deflate; server_max_window_bits=8', { serverMaxWindowBits: 8 }),
    );
    expect(negotiate('permessage-deflate; server_max_window_bits=15')).toEqual(
      agreement('permessage-deflate; server_max_window_bits=15'),
    );
  });

  it('server_max_window_bits not offered: stated only when our window is smaller than 15', () => {
    expect(negotiate('permessage-deflate', { serverMaxWindowBits: 12 })).toEqual(
      agreement('permessage-deflate; server_max_window_bits=12', { serverMaxWindowBits: 12 }),
    );
    expect(negotiate('permessage-deflate', { serverMaxWindowBits: 15 })).toEqual(agreement('permessage-deflate'));
  });

  it('client_max_window_bits without a value and our clientMaxWindowBits 10: client_max_window_bits=10', () => {
    expect(negotiate('permessage-deflate; client_max_window_bits', { clientMaxWindowBits: 10 })).toEqual(
      agreement('permessage-deflate; client_max_window_bits=10', { clientMaxWindowBits: 10 }),
    );
  });

  it('client_max_window_bits without a value and our default 15: not in the response', () => {
    expect(negotiate('permessage-deflate; client_max_window_bits')).toEqual(agreement('permessage-deflate'));
  });

  it('client_max_window_bits with a value: the smaller of it and ours', () => {
    expect(negotiate('permessage-deflate; client_max_window_bits=12')).toEqual(
      agreement('permessage-deflate; client_max_window_bits=12', { clientMaxWindowBits: 12 }),
    );
    expect(negotiate('permessage-deflate; client_max_window_bits=12', { clientMaxWindowBits: 10 })).toEqual(
      agreement('permessage-deflate; client_max_window_bits=10', { clientMaxWindowBits: 10 }),
    );
    expect(negotiate('permessage-deflate; client_max_window_bits=9', { clientMaxWindowBits: 10 })).toEqual(
      agreement('permessage-deflate; client_max_window_bits=9', { clientMaxWindowBits: 9 }),
    );
  });

  it('client_max_window_bits absent: never in the response, whatever our clientMaxWindowBits', () => {
    for (const bits of [8, 10, 15]) {
      expect(negotiate('permessage-deflate', { clientMaxWindowBits: bits })).toEqual(agreement('permessage-deflate'));
    }
    expect(
      negotiate('permessage-deflate; server_no_context_takeover; server_max_window_bits=9', { clientMaxWindowBits: 8 })
        ?.response,
    ).toBe('permessage-deflate; server_no_context_takeover; server_max_window_bits=9');
  });

  it('every parameter at once, in a fixed order', () => {
    expect(
      negotiate(
        'permessage-deflate; client_max_window_bits; server_max_window_bits=12; client_no_context_takeover; server_no_context_takeover',
        { clientMaxWindowBits: 11 },
      ),
    ).toEqual(
      agreement(
        'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=12; client_max_window_bits=11',
        { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 12, clientMaxWindowBits: 11 },
      ),
    );
  });
});
