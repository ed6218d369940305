/** Small HTTP helpers of the chat's endpoints. */

import type { IncomingMessage, ServerResponse } from 'node:http';

/** The request's path, without its query. */
export function pathOf(request: { readonly url?: string | undefined }): string {
  const url = request.url ?? '/';
  const query = url.indexOf('?');
  return query < 0 ? url : url.slice(0, query);
}

/** True for GET and HEAD; answers anything else with 405 and returns false. */
export function allowedMethod(request: IncomingMessage, response: ServerResponse): boolean {
  if (request.method === 'GET' || request.method === 'HEAD') return true;
  const body = `${request.method} is not allowed here: use GET or HEAD\n`;
  response.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  response.end(body);
  return false;
}

/** Answers GET and HEAD (405 otherwise) with `body`, never cached; returns true (the request is answered). */
export function respond(
  request: IncomingMessage,
  response: ServerResponse,
  status: number,
  type: string,
  body: string | Buffer,
  headers: Readonly<Record<string, string>> = {},
): true {
  if (!allowedMethod(request, response)) return true;
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  response.writeHead(status, { 'Content-Type': type, 'Content-Length': bytes.length, 'Cache-Control': 'no-store', ...headers });
  response.end(request.method === 'HEAD' ? undefined : bytes);
  return true;
}
