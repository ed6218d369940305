/**
 * permessage-deflate negotiation for both roles (RFC 7692 section 7): the server picks an offer and
 * writes its response; the client writes its offer and checks the server's response. The
 * compression itself needs zlib and lives in the Node layer; what is agreed is decided here, with
 * no I/O.
 */

import { HandshakeError, WebSocketError } from './errors.js';
import { formatExtension, parseExtensions, type ExtensionOffer, type ExtensionParam } from './extensions.js';

export const PERMESSAGE_DEFLATE = 'permessage-deflate';

/**
 * What an endpoint is willing to do, by the RFC's parameter names (users configure both roles by
 * these names; "server" and "client" always mean those roles, never "us" and "them").
 */
export interface DeflateConfig {
  /**
   * Server: reset our compressor after every message. Client: ask the server to reset its
   * compressor (RFC 7692 7.1.1.1), so our inflater can be pooled.
   */
  readonly serverNoContextTakeover: boolean;
  /**
   * Server: ask the client to reset its compressor (7.1.1.2). Client: reset ours after every
   * message, and say so in the offer.
   */
  readonly clientNoContextTakeover: boolean;
  /**
   * The server's compressor window, 8-15. Server: the largest we compress with. Client: below 15,
   * the largest we ask the server to use (7.1.2.1).
   */
  readonly serverMaxWindowBits: number;
  /**
   * The client's compressor window, 8-15. Server: the limit we set when the client lets us
   * (7.1.2.2; 15: no limit). Client: the largest we compress with, stated in the offer below 15.
   */
  readonly clientMaxWindowBits: number;
}

/**
 * What both sides will do, from the local endpoint's point of view, so one type serves both roles.
 * "Our" compressor compresses what we send; "their" compressor is the peer's, whose output our
 * inflater reads.
 */
export interface DeflateAgreement {
  /** Our compressor resets after each message. */
  readonly ourNoContextTakeover: boolean;
  /** The peer's compressor resets after each message, so our inflater may be pooled or reset. */
  readonly theirNoContextTakeover: boolean;
  /** Our compressor's window, 8-15. */
  readonly ourMaxWindowBits: number;
  /** The peer's compressor's window, 8-15: what our inflater needs. */
  readonly theirMaxWindowBits: number;
}

/**
 * The server's choice (negotiatePermessageDeflate, AcceptPolicy.negotiateExtensions): what is
 * agreed, and the Sec-WebSocket-Extensions element of the 101 that says so.
 */
export interface DeflateNegotiation {
  /** What was agreed, from the server's point of view (`our*` fields are the server's compressor). */
  readonly agreement: DeflateAgreement;
  /** The element for the 101 response, e.g. `permessage-deflate; server_no_context_takeover`. */
  readonly response: string;
}

/** RFC 7692 7.1.2: a decimal integer from 8 to 15 without leading zeros. */
function windowBits(value: string | undefined): number | undefined {
  if (value === undefined || !/^(?:8|9|1[0-5])$/.test(value)) return undefined;
  return Number(value);
}

function checkConfig(config: DeflateConfig): void {
  for (const name of ['serverMaxWindowBits', 'clientMaxWindowBits'] as const) {
    const bits = config[name];
    if (!Number.isInteger(bits) || bits < 8 || bits > 15) {
      throw new WebSocketError('WS_ERR_INVALID_ARGUMENT', `${name} must be an integer from 8 to 15, got ${bits}`);
    }
  }
}

// ---- server -----------------------------------------------------------------------------------

/**
 * The agreement for the first acceptable permessage-deflate offer, or undefined to decline (the
 * response then has no extension; RFC 7692 never makes a server refuse the handshake over an
 * offer). An offer is declined (7.1) when it has a parameter not defined for an offer, a parameter
 * twice, or a value that is not allowed.
 */
export function negotiatePermessageDeflate(
  offers: readonly ExtensionOffer[],
  config: DeflateConfig,
): DeflateNegotiation | undefined {
  checkConfig(config);
  for (const offer of offers) {
    if (offer.name !== PERMESSAGE_DEFLATE) continue;
    const negotiation = acceptOffer(offer.params, config);
    if (negotiation !== undefined) return negotiation;
  }
  return undefined;
}

function acceptOffer(params: readonly ExtensionParam[], config: DeflateConfig): DeflateNegotiation | undefined {
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
    agreement: {
      ourNoContextTakeover: ourNoTakeover,
      theirNoContextTakeover: theirNoTakeover,
      ourMaxWindowBits: ourBits,
      theirMaxWindowBits: theirBits,
    },
    response: formatExtension({ name: PERMESSAGE_DEFLATE, params: response }),
  };
}

// ---- client -----------------------------------------------------------------------------------

/**
 * The client's offer (RFC 7692 7.1), one element. client_max_window_bits is always offered, so the
 * server may limit our window (7.1.2.2), with our window as its value (a hint) below 15;
 * server_max_window_bits (a request, 7.1.2.1) only below 15; the no_context_takeover parameters
 * when set. Default: `permessage-deflate; client_max_window_bits`.
 */
export function buildDeflateOffer(config: DeflateConfig): string {
  checkConfig(config);
  const params: ExtensionParam[] = [];
  if (config.serverNoContextTakeover) params.push({ name: 'server_no_context_takeover', value: undefined });
  if (config.clientNoContextTakeover) params.push({ name: 'client_no_context_takeover', value: undefined });
  if (config.serverMaxWindowBits < 15) {
    params.push({ name: 'server_max_window_bits', value: String(config.serverMaxWindowBits) });
  }
  params.push({
    name: 'client_max_window_bits',
    value: config.clientMaxWindowBits < 15 ? String(config.clientMaxWindowBits) : undefined,
  });
  return formatExtension({ name: PERMESSAGE_DEFLATE, params });
}

/**
 * Checks the server's Sec-WebSocket-Extensions against the offer buildDeflateOffer(config) made,
 * and returns what is agreed: null when the server declined (no header, or a list with no
 * element). Throws a HandshakeError WS_ERR_HANDSHAKE_EXTENSIONS, status 101 (the status of the
 * response refused), for every answer RFC 7692 7.1 makes the client fail: an extension we did not
 * offer, our offer accepted twice, a parameter not defined for a response, a parameter twice, an
 * invalid value, or a configuration we did not ask for.
 */
export function acceptDeflateResponse(header: string | undefined, config: DeflateConfig): DeflateAgreement | null {
  checkConfig(config);
  if (header === undefined) return null;
  const elements = parseResponseExtensions(header);
  if (elements.length === 0) return null;
  for (const element of elements) {
    // RFC 6455 9.1 and 4.1 (client step 5): only what we offered; we offered one element.
    if (element.name !== PERMESSAGE_DEFLATE) {
      throw refused(`the server accepted the extension "${element.name}", which was not offered`);
    }
  }
  if (elements.length > 1) throw refused('the server accepted permessage-deflate more than once; it was offered once');
  return acceptParams(elements[0]!.params, config);
}

function acceptParams(params: readonly ExtensionParam[], config: DeflateConfig): DeflateAgreement {
  let serverNoContextTakeover = false;
  let clientNoContextTakeover = false;
  let serverMaxWindowBits: number | undefined;
  let clientMaxWindowBits: number | undefined;
  const seen = new Set<string>();
  for (const { name, value } of params) {
    if (seen.has(name)) throw refused(`the parameter ${name} appears twice`);
    seen.add(name);
    switch (name) {
      case 'server_no_context_takeover':
      case 'client_no_context_takeover':
        if (value !== undefined) throw refused(`${name} takes no value, got "${value}"`);
        if (name === 'server_no_context_takeover') serverNoContextTakeover = true;
        else clientNoContextTakeover = true;
        break;
      case 'server_max_window_bits':
      case 'client_max_window_bits': {
        // 7.1.2: a response's window parameters carry a value, 8 to 15 without leading zeros.
        const bits = windowBits(value);
        if (bits === undefined) {
          const got = value === undefined ? 'no value' : `"${value}"`;
          throw refused(`${name} must be an integer from 8 to 15, got ${got}`);
        }
        if (name === 'server_max_window_bits') serverMaxWindowBits = bits;
        else clientMaxWindowBits = bits;
        break;
      }
      default:
        throw refused(`the parameter ${name} is not defined for a response`);
    }
  }

  // 7.1.1.1: a server accepts our server_no_context_takeover request by including it.
  if (config.serverNoContextTakeover && !serverNoContextTakeover) {
    throw refused('server_no_context_takeover was requested but the response does not include it');
  }
  // 7.1.2.1: ... and our server_max_window_bits request with the same or a smaller value.
  if (config.serverMaxWindowBits < 15) {
    if (serverMaxWindowBits === undefined) {
      throw refused(
        `server_max_window_bits=${config.serverMaxWindowBits} was requested but the response does not include it`,
      );
    }
    if (serverMaxWindowBits > config.serverMaxWindowBits) {
      throw refused(
        `server_max_window_bits=${serverMaxWindowBits} is larger than the ${config.serverMaxWindowBits} requested`,
      );
    }
  }
  return {
    // 7.1.1.2: the server may ask it in any case; when we offered it, we keep our word anyway.
    ourNoContextTakeover: clientNoContextTakeover || config.clientNoContextTakeover,
    // 7.1.1.1: the server MAY include server_no_context_takeover even if not requested.
    theirNoContextTakeover: serverNoContextTakeover,
    // 7.1.2.2: the response's value is a limit we MUST NOT exceed; our own hint in the offer says
    // we stay within ours whatever the server answers.
    ourMaxWindowBits: Math.min(config.clientMaxWindowBits, clientMaxWindowBits ?? 15),
    // 7.1.2.1: without the parameter the server may use the full 32 KiB window.
    theirMaxWindowBits: serverMaxWindowBits ?? 15,
  };
}

/** A response's extension list: a malformed one fails the connection too (RFC 6455 9.1). */
export function parseResponseExtensions(header: string): ExtensionOffer[] {
  try {
    return parseExtensions(header);
  } catch (error) {
    if (error instanceof HandshakeError) throw new HandshakeError(error.code, 101, error.message);
    throw error;
  }
}

function refused(why: string): HandshakeError {
  return new HandshakeError('WS_ERR_HANDSHAKE_EXTENSIONS', 101, `permessage-deflate response: ${why}`);
}
