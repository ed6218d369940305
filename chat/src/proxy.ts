/**
 * Behind a proxy (`--trust-proxy ADDRESS`): the client's address is what the proxy says, for the
 * per-address limits and the logs, but only for requests that come from a proxy named as trusted
 * (anyone else could write any `X-Forwarded-For`). The last entry of the header is the one the
 * nearest proxy appended (haproxy's `option forwardfor`); entries before it were written by the
 * client or proxies further away, and are not believed.
 */

import type { UpgradeRequest } from 'rfc6455';
import { isIP } from 'node:net';

/** `::ffff:127.0.0.1` (an IPv4 client of a dual-stack socket) is `127.0.0.1`. */
function normalize(address: string): string {
  const trimmed = address.trim().toLowerCase();
  return trimmed.startsWith('::ffff:') && isIP(trimmed.slice(7)) === 4 ? trimmed.slice(7) : trimmed;
}

/** The client address of a request, from X-Forwarded-For when its peer is a trusted proxy. */
export function clientAddressOf(trusted: readonly string[]): (request: UpgradeRequest) => string | undefined {
  const proxies = new Set(trusted.map(normalize));
  return (request) => {
    const peer = request.socket.remoteAddress;
    if (peer === undefined || !proxies.has(normalize(peer))) return peer;
    const header = request.headers['x-forwarded-for'];
    const value = Array.isArray(header) ? header.join(',') : header;
    const last = value?.split(',').at(-1)?.trim();
    return last !== undefined && isIP(normalize(last)) !== 0 ? normalize(last) : peer;
  };
}
