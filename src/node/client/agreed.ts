/**
 * What both handshakes, the HTTP/1.1 upgrade (connect.ts) and the HTTP/2 extended CONNECT
 * (http2-connect.ts), do alike once the server has answered: report a response that breaks the
 * core's rules, and start the client's Ws with what the server agreed.
 */

import type { Duplex } from 'node:stream';
import type { ClientHandshakeResult } from '../../protocol/client-handshake.js';
import { HandshakeError } from '../../protocol/errors.js';
import type { DeflateAgreement, DeflateConfig } from '../../protocol/permessage-deflate.js';
import type { PerMessageDeflate } from '../deflate.js';
import { sharedHeartbeat } from '../heartbeat.js';
import { withResolved } from '../options.js';
import { Ws, type ConnectionConfig } from '../ws.js';
import type { Attempt } from './dial.js';
import type { ClientOptions, ResolvedClientOptions } from './options.js';

/** The permessage-deflate offer, as connect() made it (its context memory reserved until the answer). */
export interface OfferedDeflate {
  readonly config: DeflateConfig;
  /** The codec for what the server agreed; the reservation is adjusted to it. */
  codec(agreement: DeflateAgreement): PerMessageDeflate;
  release(): void;
}

/** Throws a HandshakeError from the core's checks as the attempt's WS_ERR_INVALID_RESPONSE; anything else as it is. */
export function rejectResponse(
  attempt: Attempt,
  error: unknown,
  status: number,
  headers: Readonly<Record<string, string | string[]>>,
): never {
  if (!(error instanceof HandshakeError)) throw error;
  throw attempt.error('WS_ERR_INVALID_RESPONSE', `invalid handshake response: ${error.message}`, { status, headers, cause: error });
}

/** The client's Ws on `socket`, with the codec for the deflate agreed (the offer released when none was). */
export function agreedWs(
  socket: Duplex,
  agreed: ClientHandshakeResult,
  offer: { readonly options: ResolvedClientOptions; readonly given: ClientOptions; readonly deflate: OfferedDeflate | null },
  more: Pick<ConnectionConfig, 'onClosed' | 'transport'>,
): Ws {
  const { options, deflate } = offer;
  let codec: PerMessageDeflate | null = null;
  if (deflate !== null) {
    if (agreed.deflate === null) deflate.release();
    else codec = deflate.codec(agreed.deflate);
  }
  const config: ConnectionConfig = withResolved(options, {
    role: 'client' as const,
    heartbeat: sharedHeartbeat(options, offer.given),
    ...more,
  });
  return new Ws(socket, config, { protocol: agreed.protocol, extensions: agreed.extensions, deflate: codec });
}
