/**
 * `rfc6455 connect URL`: a client for people debugging a server, like wscat (issue 9). Lines typed
 * on stdin go as text messages; what arrives is printed on stdout, text as it is and binary as
 * hex with its length; the close code and reason are printed when the connection ends. Exits 0
 * after a clean close, 1 otherwise (a failed connect included, with its error code).
 */

import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { connect } from '../node/client/connect.js';
import { ConnectError } from '../node/client/connect-error.js';
import type { ClientOptions } from '../node/client/options.js';
import type { Message } from '../node/inbox.js';
import type { Ws } from '../node/ws.js';
import { WebSocketError } from '../protocol/errors.js';
import { usageError } from './usage.js';

export interface ConnectArguments {
  readonly url: string | undefined;
  readonly headers: readonly string[];
  readonly subprotocols: readonly string[];
  readonly origin: string | undefined;
  readonly noDeflate: boolean;
  readonly ca: string | undefined;
  readonly insecure: boolean;
}

// Binary messages are printed as hex up to this many bytes, then the rest is counted.
const HEX_BYTES = 1024;

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

function info(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** How a received message is printed: `< text`, or `< binary 5 bytes: 01 02 03 04 05`. */
export function formatMessage(message: Message): string {
  if (message.type === 'text') return `< ${message.data}`;
  const data = message.data;
  const hex = data.subarray(0, HEX_BYTES).toString('hex').replace(/(..)(?!$)/g, '$1 ');
  const more = data.length > HEX_BYTES ? ` ... (${data.length - HEX_BYTES} more bytes)` : '';
  return `< binary ${data.length} byte${data.length === 1 ? '' : 's'}: ${hex}${more}`;
}

function parseHeaders(lines: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) usageError('connect', `a header must be 'Name: value', got ${JSON.stringify(line)}`);
    headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  return headers;
}

export async function runConnect(args: ConnectArguments): Promise<void> {
  if (args.url === undefined) usageError('connect', 'a URL is needed: rfc6455 connect ws://host:port/path');
  const options: ClientOptions = {
    headers: parseHeaders(args.headers),
    protocols: args.subprotocols,
    perMessageDeflate: !args.noDeflate,
  };
  if (args.origin !== undefined) options.origin = args.origin;
  if (args.insecure) options.rejectUnauthorized = false;
  if (args.ca !== undefined) {
    try {
      options.ca = readFileSync(args.ca);
    } catch (error) {
      usageError('connect', `cannot read --ca ${args.ca}: ${(error as Error).message}`);
    }
  }
  let ws: Ws;
  try {
    ws = await connect(args.url, options);
  } catch (error) {
    if (error instanceof ConnectError) {
      info(`rfc6455 connect: ${error.code}${error.phase === undefined ? '' : ` (${error.phase})`}: ${error.message}`);
      if (error.body !== undefined && error.body.length > 0) info(error.body.toString('utf8').trimEnd());
      process.exit(1);
    }
    if (error instanceof WebSocketError) usageError('connect', `${error.code}: ${error.message}`);
    throw error;
  }
  const details = [ws.protocol && `subprotocol ${ws.protocol}`, ws.extensions && `extensions ${ws.extensions}`].filter(Boolean);
  info(`connected to ${args.url}${details.length > 0 ? ` (${details.join(', ')})` : ''}`);

  // stdin -> text messages, in order; end of input closes the connection normally.
  const input = createInterface({ input: process.stdin, terminal: false });
  let sending = Promise.resolve();
  input.on('line', (line) => {
    sending = sending.then(() => ws.send(line)).catch(() => {});
  });
  input.on('close', () => {
    void sending.then(() => ws.close(1000));
  });
  process.once('SIGINT', () => void ws.close(1000));

  for await (const message of ws) out(formatMessage(message));
  const result = await ws.closed;
  input.close();
  out(`closed ${result.code}${result.reason === '' ? '' : ` ${result.reason}`}${result.wasClean ? '' : ' (not clean)'}`);
  process.exit(result.wasClean ? 0 : 1);
}
