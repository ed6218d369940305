/**
 * permessage-deflate negotiation, server side (RFC 7692 section 7). The compression itself needs
 * zlib and lives in the Node layer; what is agreed is decided here, with no I/O.
 */

import { formatExtension, type ExtensionOffer, type ExtensionParam } from './extensions.js';

export const PERMESSAGE_DEFLATE = 'permessage-deflate';

/** What the server is willing to do. */
export interface DeflateConfig {
  /** Reset our compressor after every message (less memory, worse ratio). */
  readonly serverNoContextTakeover: boolean;
  /** Ask the client to reset its compressor after every message (then our inflater can too). */
  readonly clientNoContextTakeover: boolean;
  /** The largest LZ77 window we compress with, 8-15. */
  readonly serverMaxWindowBits: number;
  /** The window we ask the client to stay within, 8-15, when it lets us choose (15: no request). */
  readonly clientMaxWindowBits: number;
}

/** What both sides will do, and the response element that says so. */
export interface DeflateAgreement {
  readonly serverNoContextTakeover: boolean;
  readonly clientNoContextTakeover: boolean;
  /** Our compressor's window bits. */
  readonly serverMaxWindowBits: number;
  /** The client's compressor's window bits, so what our decompressor needs. */
  readonly clientMaxWindowBits: number;
  /** The Sec-WebSocket-Extensions element of the 101 response. */
  readonly response: string;
}

/** RFC 7692 7.1.2: a decimal integer from 8 to 15 without leading zeros. */
function windowBits(value: string | undefined): number | undefined {
  if (value === undefined || !/^(?:8|9|1[0-5])$/.test(value)) return undefined;
  return Number(value);
}

/**
 * The agreement for the first acceptable permessage-deflate offer, or undefined to decline (the
 * response then has no extension; RFC 7692 never makes a server refuse the handshake over an
 * offer). An offer is declined (7.1) when it has a parameter not defined for an offer, a parameter
 * twice, or a value that is not allowed.
 */
export function negotiatePermessageDeflate(
  offers: readonly ExtensionOffer[],
  config: DeflateConfig,
): DeflateAgreement | undefined {
  for (const offer of offers) {
    if (offer.name !== PERMESSAGE_DEFLATE) continue;
    const agreement = accept(offer.params, config);
    if (agreement !== undefined) return agreement;
  }
  return undefined;
}

function accept(params: readonly ExtensionParam[], config: DeflateConfig): DeflateAgreement | undefined {
  let serverNoContextTakeover = false;
  let clientNoContextTakeover = false;
  let serverMaxWindowBits: number | undefined;
  let clientMaxWindowBits: number | 'any' | undefined;
  const seen = new Set<string>();
  for (const { name, value } of params) {
    if (seen.has(name)) return undefined;
    seen.add(name);
    switch (name) {
      case 'server_no_context_takeover':
        if (value !== undefined) return undefined;
        serverNoContextTakeover = true;
        break;
      case 'client_no_context_takeover':
        if (value !== undefined) return undefined;
        clientNoContextTakeover = true;
        break;
      case 'server_max_window_bits':
        serverMaxWindowBits = windowBits(value);
        if (serverMaxWindowBits === undefined) return undefined;
        break;
      case 'client_max_window_bits':
        // Without a value: the client can honour a limit if we set one (7.1.2.2).
        if (value === undefined) clientMaxWindowBits = 'any';
        else {
          clientMaxWindowBits = windowBits(value);
          if (clientMaxWindowBits === undefined) return undefined;
        }
        break;
      default:
        return undefined;
    }
  }

  // 7.1.1.1: server_no_context_takeover offered MUST be honoured; we MAY add it ourselves.
  const ourNoTakeover = serverNoContextTakeover || config.serverNoContextTakeover;
  // 7.1.1.2: we MAY ask the client not to take over context; we do when it offers to.
  const theirNoTakeover = clientNoContextTakeover || config.clientNoContextTakeover;
  // 7.1.2.1: our window within what the client can decode; we MAY state a smaller one anyway.
  const ourBits = Math.min(config.serverMaxWindowBits, serverMaxWindowBits ?? 15);
  // 7.1.2.2: we may limit the client's window only if it offered client_max_window_bits.
  let theirBits = 15;
  if (clientMaxWindowBits !== undefined) {
    theirBits = Math.min(config.clientMaxWindowBits, clientMaxWindowBits === 'any' ? 15 : clientMaxWindowBits);
  }

  const response: ExtensionParam[] = [];
  if (ourNoTakeover) response.push({ name: 'server_no_context_takeover', value: undefined });
  if (theirNoTakeover) response.push({ name: 'client_no_context_takeover', value: undefined });
  if (serverMaxWindowBits !== undefined || ourBits < 15) {
    response.push({ name: 'server_max_window_bits', value: String(ourBits) });
  }
  if (clientMaxWindowBits !== undefined && (theirBits < 15 || clientMaxWindowBits !== 'any')) {
    response.push({ name: 'client_max_window_bits', value: String(theirBits) });
  }
  return {
    serverNoContextTakeover: ourNoTakeover,
    clientNoContextTakeover: theirNoTakeover,
    serverMaxWindowBits: ourBits,
    clientMaxWindowBits: theirBits,
    response: formatExtension({ name: PERMESSAGE_DEFLATE, params: response }),
  };
}
