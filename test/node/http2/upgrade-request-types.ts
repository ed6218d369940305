/**
 * Hooks written before HTTP/2, for Node's IncomingMessage: they must keep type-checking (`npm run
 * typecheck` compiles this file) now that the hooks take an UpgradeRequest, which IncomingMessage
 * satisfies. ServerHandler and the hooks are method types, whose parameters TypeScript checks
 * bivariantly. server.test.ts runs them.
 */

import type { IncomingMessage } from 'node:http';
import { expectTypeOf } from 'vitest';
import type { ServerHandler, ServerOptions, UpgradeRequest } from '../../../src/index.js';
import { echoHandler } from '../helpers.js';

// An IncomingMessage is an UpgradeRequest.
expectTypeOf<IncomingMessage>().toMatchTypeOf<UpgradeRequest>();

const handler: ServerHandler = async (ws, request: IncomingMessage) => {
  void request.rawHeaders;
  await echoHandler(ws);
};

export const hooksForIncomingMessage: ServerOptions = {
  handler,
  selectProtocol: (offered: readonly string[], _request: IncomingMessage) => offered[0],
  allowRequest: (request: IncomingMessage) => request.headers['sec-websocket-version'] === '13',
  onRefused: ({ request }) => void request?.url,
  limits: { clientAddress: (request: IncomingMessage) => request.socket.remoteAddress },
};
