/**
 * permessage-deflate negotiation (RFC 7692 section 7). Server side, through parseExtensions and
 * negotiatePermessageDeflate: which offer is accepted, which are declined (and the next one tried),
 * and the exact response element. Client side: the exact offer (buildDeflateOffer) and every
 * answer acceptDeflateResponse must refuse (7.1), with what it agrees otherwise. Each rule is its
 * own test. The server's rules over the wire (the 101's Sec-WebSocket-Extensions header) are in
 * test/node/deflate.test.ts; both sides together in client-handshake.test.ts.
 */

import { describe, expect, it } from 'vitest';
import { HandshakeError } from '../../src/protocol/errors.js';
import { parseExtensions } from '../../src/protocol/extensions.js';
import {
  acceptDeflateResponse,
  buildDeflateOffer,
  negotiatePermessageDeflate,
  type DeflateAgreement,
  type DeflateConfig,
  type DeflateNegotiation,
} from '../../src/protocol/permessage-deflate.js';
import { expectWebSocketError, thrown } from './helpers.js';

const DEFAULT_CONFIG: DeflateConfig = {
  serverNoContextTakeover: false,
  clientNoContextTakeover: false,
  serverMaxWindowBits: 15,
  clientMaxWindowBits: 15,
};

function negotiate(header: string, config: Partial<DeflateConfig> = {}): DeflateNegotiation | undefined {
  return negotiatePermessageDeflate(parseExtensions(header), { ...DEFAULT_CONFIG, ...config });
}

/** The server's agreement: "our" compressor is the server's, "their" compressor the client's. */
function agreement(response: string, fields: Partial<DeflateAgreement> = {}): DeflateNegotiation {
  return {
    agreement: {
      ourNoContextTakeover: false,
      theirNoContextTakeover: false,
      ourMaxWindowBits: 15,
      theirMaxWindowBits: 15,
      ...fields,
    },
    response,
  };
}

/** The agreement for the fallback offer that follows each declined one below. */
const FALLBACK = 'permessage-deflate; client_no_context_takeover';
const FALLBACK_AGREEMENT = agreement('permessage-deflate; client_no_context_takeover', { theirNoContextTakeover: true });

describe('accepting an offer', () => {
  it('accepts a bare offer with a bare response', () => {
    expect(negotiate('permessage-deflate')).toEqual(agreement('permessage-deflate'));
  });

  it('the first acceptable offer wins', () => {
    expect(negotiate('permessage-deflate; server_max_window_bits=10, permessage-deflate; client_no_context_takeover')).toEqual(
      agreement('permessage-deflate; server_max_window_bits=10', { ourMaxWindowBits: 10 }),
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
      agreement('permessage-deflate; server_no_context_takeover', { ourNoContextTakeover: true }),
    );
  });

  it('quoted values are accepted ("10" is 10)', () => {
    expect(negotiate('permessage-deflate; server_max_window_bits="10"; client_max_window_bits="12"')).toEqual(
      agreement('permessage-deflate; server_max_window_bits=10; client_max_window_bits=12', {
        ourMaxWindowBits: 10,
        theirMaxWindowBits: 12,
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

  it('a malformed header (a quoted value that is not a token) is refused whole: 400, no offer tried', () => {
    // RFC 6455 9.1: malformed data fails the connection; it is not skipped to reach the next offer.
    const error = expectWebSocketError(
      () => negotiate(`permessage-deflate; server_max_window_bits="1 0", ${FALLBACK}`),
      'WS_ERR_HANDSHAKE_EXTENSIONS',
    );
    expect(error).toBeInstanceOf(HandshakeError);
    expect((error as HandshakeError).status).toBe(400);
    expect(error.message).toBe('Sec-WebSocket-Extensions: the quoted value of parameter "server_max_window_bits" is not a token at offset 43',);
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
      agreement('permessage-deflate; server_no_context_takeover', { ourNoContextTakeover: true }),
    );
  });

  it('our serverNoContextTakeover: included though not offered', () => {
    expect(negotiate('permessage-deflate', { serverNoContextTakeover: true })).toEqual(
      agreement('permessage-deflate; server_no_context_takeover', { ourNoContextTakeover: true }),
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
      agreement('permessage-deflate; server_max_window_bits=10', { ourMaxWindowBits: 10 }),
    );
  });

  it('server_max_window_bits: the smaller of the offer and our serverMaxWindowBits', () => {
    expect(negotiate('permessage-deflate; server_max_window_bits=10', { serverMaxWindowBits: 9 })).toEqual(
      agreement('permessage-deflate; server_max_window_bits=9', { ourMaxWindowBits: 9 }),
    );
    expect(negotiate('permessage-deflate; server_max_window_bits=10', { serverMaxWindowBits: 12 })).toEqual(
      agreement('permessage-deflate; server_max_window_bits=10', { ourMaxWindowBits: 10 }),
    );
    expect(negotiate('permessage-deflate; server_max_window_bits=8')).toEqual(
      agreement('permessage-deflate; server_max_window_bits=8', { ourMaxWindowBits: 8 }),
    );
    expect(negotiate('permessage-deflate; server_max_window_bits=15')).toEqual(
      agreement('permessage-deflate; server_max_window_bits=15'),
    );
  });

  it('server_max_window_bits not offered: stated only when our window is smaller than 15', () => {
    expect(negotiate('permessage-deflate', { serverMaxWindowBits: 12 })).toEqual(
      agreement('permessage-deflate; server_max_window_bits=12', { ourMaxWindowBits: 12 }),
    );
    expect(negotiate('permessage-deflate', { serverMaxWindowBits: 15 })).toEqual(agreement('permessage-deflate'));
  });

  it('client_max_window_bits without a value and our clientMaxWindowBits 10: client_max_window_bits=10', () => {
    expect(negotiate('permessage-deflate; client_max_window_bits', { clientMaxWindowBits: 10 })).toEqual(
      agreement('permessage-deflate; client_max_window_bits=10', { theirMaxWindowBits: 10 }),
    );
  });

  it('client_max_window_bits without a value and our default 15: not in the response', () => {
    expect(negotiate('permessage-deflate; client_max_window_bits')).toEqual(agreement('permessage-deflate'));
  });

  it('client_max_window_bits with a value: the smaller of it and ours', () => {
    expect(negotiate('permessage-deflate; client_max_window_bits=12')).toEqual(
      agreement('permessage-deflate; client_max_window_bits=12', { theirMaxWindowBits: 12 }),
    );
    expect(negotiate('permessage-deflate; client_max_window_bits=12', { clientMaxWindowBits: 10 })).toEqual(
      agreement('permessage-deflate; client_max_window_bits=10', { theirMaxWindowBits: 10 }),
    );
    expect(negotiate('permessage-deflate; client_max_window_bits=9', { clientMaxWindowBits: 10 })).toEqual(
      agreement('permessage-deflate; client_max_window_bits=9', { theirMaxWindowBits: 9 }),
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
        { ourNoContextTakeover: true, theirNoContextTakeover: true, ourMaxWindowBits: 12, theirMaxWindowBits: 11 },
      ),
    );
  });
});

describe('the RFC 7692 two-offer example (a request, then a fallback)', () => {
  const OFFER = 'permessage-deflate; client_max_window_bits; server_max_window_bits=10, permessage-deflate; client_max_window_bits';

  it('a server that can limit its window accepts the first offer', () => {
    expect(negotiate(OFFER)).toEqual(agreement('permessage-deflate; server_max_window_bits=10', { ourMaxWindowBits: 10 }));
  });

  it('a server configured with a smaller window states its own, within the request', () => {
    expect(negotiate(OFFER, { serverMaxWindowBits: 9, clientMaxWindowBits: 12 })).toEqual(
      agreement('permessage-deflate; server_max_window_bits=9; client_max_window_bits=12', {
        ourMaxWindowBits: 9,
        theirMaxWindowBits: 12,
      }),
    );
  });
});

describe('configuration bounds (both roles)', () => {
  it.each([
    ['serverMaxWindowBits', 7],
    ['serverMaxWindowBits', 16],
    ['clientMaxWindowBits', 0],
    ['clientMaxWindowBits', 12.5],
  ] as const)('%s = %s: WS_ERR_INVALID_ARGUMENT from negotiate, offer and accept alike', (name, bits) => {
    const config = { ...DEFAULT_CONFIG, [name]: bits };
    expectWebSocketError(() => negotiatePermessageDeflate([], config), 'WS_ERR_INVALID_ARGUMENT');
    expectWebSocketError(() => buildDeflateOffer(config), 'WS_ERR_INVALID_ARGUMENT');
    expectWebSocketError(() => acceptDeflateResponse('permessage-deflate', config), 'WS_ERR_INVALID_ARGUMENT');
  });
});

// ---- client side ------------------------------------------------------------------------------

describe('buildDeflateOffer: the client offer (RFC 7692 7.1)', () => {
  it('by default: permessage-deflate; client_max_window_bits (the server may limit our window)', () => {
    expect(buildDeflateOffer(DEFAULT_CONFIG)).toBe('permessage-deflate; client_max_window_bits');
  });

  it.each([
    [{ serverNoContextTakeover: true }, 'permessage-deflate; server_no_context_takeover; client_max_window_bits'],
    [{ clientNoContextTakeover: true }, 'permessage-deflate; client_no_context_takeover; client_max_window_bits'],
    [{ serverMaxWindowBits: 10 }, 'permessage-deflate; server_max_window_bits=10; client_max_window_bits'],
    [{ clientMaxWindowBits: 9 }, 'permessage-deflate; client_max_window_bits=9'],
    [
      { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 8, clientMaxWindowBits: 12 },
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8; client_max_window_bits=12',
    ],
  ] as Array<[Partial<DeflateConfig>, string]>)('%j -> %s', (config, offer) => {
    expect(buildDeflateOffer({ ...DEFAULT_CONFIG, ...config })).toBe(offer);
    // A well-formed offer that our own server accepts.
    expect(negotiate(offer)).toBeDefined();
  });
});

/** The client's agreement: "our" compressor is the client's, "their" compressor the server's. */
function clientAgreement(fields: Partial<DeflateAgreement> = {}): DeflateAgreement {
  return { ourNoContextTakeover: false, theirNoContextTakeover: false, ourMaxWindowBits: 15, theirMaxWindowBits: 15, ...fields };
}

function accepted(header: string | undefined, config: Partial<DeflateConfig> = {}): DeflateAgreement | null {
  return acceptDeflateResponse(header, { ...DEFAULT_CONFIG, ...config });
}

describe('acceptDeflateResponse: what the client agrees to', () => {
  it('declined: no header, an empty header or an empty list -> null', () => {
    expect(accepted(undefined)).toBeNull();
    expect(accepted('')).toBeNull();
    expect(accepted(' ,\t, ')).toBeNull();
  });

  it('a bare response: context takeover and 15-bit windows both ways', () => {
    expect(accepted('permessage-deflate')).toEqual(clientAgreement());
  });

  it('client_no_context_takeover -> ourNoContextTakeover (7.1.1.2: we MUST NOT take over)', () => {
    expect(accepted('permessage-deflate; client_no_context_takeover')).toEqual(clientAgreement({ ourNoContextTakeover: true }));
  });

  it('our own clientNoContextTakeover holds even if the server does not repeat it', () => {
    expect(accepted('permessage-deflate', { clientNoContextTakeover: true })).toEqual(clientAgreement({ ourNoContextTakeover: true }));
  });

  it('server_no_context_takeover -> theirNoContextTakeover, requested or not (7.1.1.1: the server MAY add it)', () => {
    expect(accepted('permessage-deflate; server_no_context_takeover')).toEqual(clientAgreement({ theirNoContextTakeover: true }));
    expect(accepted('permessage-deflate; server_no_context_takeover', { serverNoContextTakeover: true })).toEqual(
      clientAgreement({ theirNoContextTakeover: true }),
    );
  });

  it('client_max_window_bits=N -> ourMaxWindowBits N (7.1.2.2: we MUST NOT use a larger window)', () => {
    for (const bits of [8, 10, 15]) {
      expect(accepted(`permessage-deflate; client_max_window_bits=${bits}`)).toEqual(clientAgreement({ ourMaxWindowBits: bits }));
    }
  });

  it('client_max_window_bits above our own hint: we keep our smaller window (7.1.2.2, the hint)', () => {
    expect(accepted('permessage-deflate; client_max_window_bits=12', { clientMaxWindowBits: 10 })).toEqual(
      clientAgreement({ ourMaxWindowBits: 10 }),
    );
    expect(accepted('permessage-deflate', { clientMaxWindowBits: 10 })).toEqual(clientAgreement({ ourMaxWindowBits: 10 }));
    expect(accepted('permessage-deflate; client_max_window_bits=9', { clientMaxWindowBits: 10 })).toEqual(
      clientAgreement({ ourMaxWindowBits: 9 }),
    );
  });

  it('server_max_window_bits=N -> theirMaxWindowBits N, requested or not (7.1.2.1: the server MAY state it)', () => {
    expect(accepted('permessage-deflate; server_max_window_bits=11')).toEqual(clientAgreement({ theirMaxWindowBits: 11 }));
    expect(accepted('permessage-deflate; server_max_window_bits=10', { serverMaxWindowBits: 10 })).toEqual(
      clientAgreement({ theirMaxWindowBits: 10 }),
    );
    // The same or a smaller value than requested.
    expect(accepted('permessage-deflate; server_max_window_bits=8', { serverMaxWindowBits: 10 })).toEqual(
      clientAgreement({ theirMaxWindowBits: 8 }),
    );
  });

  it('every parameter at once, in any order, any case, quoted', () => {
    expect(
      accepted(
        'PerMessage-Deflate; CLIENT_MAX_WINDOW_BITS="9"; server_max_window_bits=10; Client_No_Context_Takeover; server_no_context_takeover',
        { serverNoContextTakeover: true, serverMaxWindowBits: 12 },
      ),
    ).toEqual({ ourNoContextTakeover: true, theirNoContextTakeover: true, ourMaxWindowBits: 9, theirMaxWindowBits: 10 });
  });

  it('accepts the answer our own server gives to our own offer, for the RFC 7692 two-offer example', () => {
    const offer = 'permessage-deflate; client_max_window_bits; server_max_window_bits=10, permessage-deflate; client_max_window_bits';
    const response = negotiate(offer)!.response;
    expect(response).toBe('permessage-deflate; server_max_window_bits=10');
    expect(accepted(response, { serverMaxWindowBits: 10 })).toEqual(clientAgreement({ theirMaxWindowBits: 10 }));
  });
});

describe('acceptDeflateResponse: answers the client must refuse (RFC 7692 7.1), WS_ERR_HANDSHAKE_EXTENSIONS, status 101', () => {
  const refusals: Array<[string, string, Partial<DeflateConfig>, string]> = [
    ['an extension not offered', 'x-webkit-deflate-frame', {}, 'the server accepted the extension "x-webkit-deflate-frame", which was not offered'],
    ['an extension not offered, after ours', 'permessage-deflate, foo', {}, 'the server accepted the extension "foo", which was not offered'],
    ['permessage-deflate twice', 'permessage-deflate, permessage-deflate; server_no_context_takeover', {}, 'the server accepted permessage-deflate more than once; it was offered once'],
    ['an unknown parameter', 'permessage-deflate; foo', {}, 'the parameter foo is not defined for a response'],
    ['an unknown parameter with a value', 'permessage-deflate; x=1', {}, 'the parameter x is not defined for a response'],
    ['a parameter of another extension', 'permessage-deflate; no_context_takeover', {}, 'the parameter no_context_takeover is not defined for a response'],
    ['server_no_context_takeover twice', 'permessage-deflate; server_no_context_takeover; Server_No_Context_Takeover', {}, 'the parameter server_no_context_takeover appears twice'],
    ['client_no_context_takeover twice', 'permessage-deflate; client_no_context_takeover; client_no_context_takeover', {}, 'the parameter client_no_context_takeover appears twice'],
    ['server_max_window_bits twice', 'permessage-deflate; server_max_window_bits=10; server_max_window_bits=10', {}, 'the parameter server_max_window_bits appears twice'],
    ['client_max_window_bits twice', 'permessage-deflate; client_max_window_bits=10; client_max_window_bits=9', {}, 'the parameter client_max_window_bits appears twice'],
    ['a value on server_no_context_takeover', 'permessage-deflate; server_no_context_takeover=1', {}, 'server_no_context_takeover takes no value, got "1"'],
    ['a value on client_no_context_takeover', 'permessage-deflate; client_no_context_takeover="true"', {}, 'client_no_context_takeover takes no value, got "true"'],
    ['server_max_window_bits without a value', 'permessage-deflate; server_max_window_bits', {}, 'server_max_window_bits must be an integer from 8 to 15, got no value'],
    ['client_max_window_bits without a value', 'permessage-deflate; client_max_window_bits', {}, 'client_max_window_bits must be an integer from 8 to 15, got no value'],
    ['server_max_window_bits=7', 'permessage-deflate; server_max_window_bits=7', {}, 'server_max_window_bits must be an integer from 8 to 15, got "7"'],
    ['server_max_window_bits=16', 'permessage-deflate; server_max_window_bits=16', {}, 'server_max_window_bits must be an integer from 8 to 15, got "16"'],
    ['server_max_window_bits=010', 'permessage-deflate; server_max_window_bits=010', {}, 'server_max_window_bits must be an integer from 8 to 15, got "010"'],
    ['client_max_window_bits=16', 'permessage-deflate; client_max_window_bits=16', {}, 'client_max_window_bits must be an integer from 8 to 15, got "16"'],
    ['client_max_window_bits=ten', 'permessage-deflate; client_max_window_bits=ten', {}, 'client_max_window_bits must be an integer from 8 to 15, got "ten"'],
    ['server_max_window_bits larger than requested', 'permessage-deflate; server_max_window_bits=11', { serverMaxWindowBits: 10 }, 'server_max_window_bits=11 is larger than the 10 requested'],
    ['server_max_window_bits requested but absent', 'permessage-deflate', { serverMaxWindowBits: 10 }, 'server_max_window_bits=10 was requested but the response does not include it'],
    ['server_no_context_takeover requested but absent', 'permessage-deflate; client_no_context_takeover', { serverNoContextTakeover: true }, 'server_no_context_takeover was requested but the response does not include it'],
  ];

  it.each(refusals)('%s (%j)', (_what, header, config, why) => {
    const error = thrown(() => accepted(header, config));
    expect(error).toBeInstanceOf(HandshakeError);
    expect(error).toMatchObject({ code: 'WS_ERR_HANDSHAKE_EXTENSIONS', status: 101, message: `permessage-deflate response: ${why}` });
  });

  it('a malformed header (RFC 6455 9.1): refused with the parser\'s reason, status 101', () => {
    const error = thrown(() => accepted('permessage-deflate; server_max_window_bits="10'));
    expect(error).toBeInstanceOf(HandshakeError);
    expect(error).toMatchObject({
      code: 'WS_ERR_HANDSHAKE_EXTENSIONS',
      status: 101,
      message: 'Sec-WebSocket-Extensions: unterminated quoted string at offset 43',
    });
  });
});
