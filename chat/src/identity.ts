/**
 * Who a WebSocket request is (the `/ws` endpoint): `username` and `userId` from the query string
 * (seed 004's `/ws?username=U&userId=ID`), or from a JWT (`--auth jwt`), plus the first `room`
 * and `since`. A missing or invalid field is a 400 whose JSON body names it; a missing, bad,
 * expired or wrong-algorithm token is a 401. The server answers them through the library's
 * `allowRequest` (a HandshakeRefusal).
 */

import type { UpgradeRequest } from 'rfc6455';
import { errors as joseErrors, importSPKI, jwtVerify, type CryptoKey, type KeyObject } from 'jose';
import type { HandshakeRefusal } from 'rfc6455';
import { isRoomName, parseStreamId, type Member, type StreamId } from './protocol.js';

/** The `notify` right lets a user send `notification` messages. */
export type Right = 'notify';

export interface Identity extends Member {
  readonly rights: ReadonlySet<Right>;
  /** The room joined on connect. */
  readonly room: string;
  /** Where the client was in that room (recovery), if it said. */
  readonly since: StreamId | undefined;
}

/** Unicode letters, digits and `_ . -`, 1-32 of them (after NFC normalization). */
const USERNAME = /^[\p{L}\p{Nd}_.-]{1,32}$/u;
/** The same and `:`, 1-64 (a UUID fits). */
const USER_ID = /^[\p{L}\p{Nd}_.:-]{1,64}$/u;

export const USERNAME_RULE = '1-32 Unicode letters, digits, _ . -';
export const USER_ID_RULE = '1-64 Unicode letters, digits, _ . - :';

export function isUsername(value: unknown): value is string {
  return typeof value === 'string' && USERNAME.test(value);
}

export function isUserId(value: unknown): value is string {
  return typeof value === 'string' && USER_ID.test(value);
}

export type Verified = { readonly ok: true; readonly identity: Identity } | { readonly ok: false; readonly reason: 'invalid_request' | 'unauthorized'; readonly refusal: HandshakeRefusal };

function badRequest(field: string, problem: string): Verified {
  return {
    ok: false,
    reason: 'invalid_request',
    refusal: {
      status: 400,
      body: JSON.stringify({ error: 'invalid_request', field, problem }),
      headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' },
    },
  };
}

function unauthorized(problem: string): Verified {
  return {
    ok: false,
    reason: 'unauthorized',
    refusal: {
      status: 401,
      body: JSON.stringify({ error: 'unauthorized', problem }),
      headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', 'WWW-Authenticate': 'Bearer' },
    },
  };
}

/** How tokens are checked: `none` (query parameters, nobody has a right), or JWT with one key and algorithm. */
export type Authenticator =
  | { readonly kind: 'none' }
  | { readonly kind: 'jwt'; readonly algorithm: 'HS256' | 'RS256'; readonly key: Uint8Array | CryptoKey | KeyObject };

export async function jwtAuthenticator(options: { secret?: string | undefined; publicKey?: string | undefined }): Promise<Authenticator> {
  if (options.publicKey !== undefined) {
    return { kind: 'jwt', algorithm: 'RS256', key: await importSPKI(options.publicKey, 'RS256') };
  }
  if (options.secret !== undefined && options.secret !== '') {
    return { kind: 'jwt', algorithm: 'HS256', key: new TextEncoder().encode(options.secret) };
  }
  throw new Error('--auth jwt needs --jwt-secret (or JWT_SECRET) for HS256, or --jwt-public-key FILE for RS256');
}

/** The query's value of `name`: the first one; null when absent. */
function param(query: URLSearchParams, name: string): string | null {
  const value = query.get(name);
  return value === null ? null : value.normalize('NFC');
}

/** A token from `Authorization: Bearer`, the `token` cookie, or the `token` query parameter (in that order). */
export function findToken(request: UpgradeRequest, query: URLSearchParams): string | null {
  const authorization = request.headers.authorization;
  if (authorization !== undefined) {
    const match = /^Bearer +([^ ]+) *$/i.exec(authorization);
    if (match !== null) return match[1]!;
  }
  const cookie = request.headers.cookie;
  if (cookie !== undefined) {
    for (const part of cookie.split(';')) {
      const eq = part.indexOf('=');
      if (eq > 0 && part.slice(0, eq).trim() === 'token') {
        const value = part.slice(eq + 1).trim();
        try {
          return decodeURIComponent(value);
        } catch {
          return value; // not percent-encoded after all: verified as it is (and refused, if it is no JWT)
        }
      }
    }
  }
  return query.get('token');
}

function tokenProblem(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return 'the token has expired';
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return "the token's algorithm is not allowed";
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return "the token's signature is not valid";
  if (error instanceof joseErrors.JWTClaimValidationFailed) return `the token's ${error.claim} claim is not valid`;
  return 'the token is not a valid JWT';
}

// Every identity's rights are one of these (issue 15: not a Set per connection). Never modified.
const NO_RIGHTS: ReadonlySet<Right> = new Set();
const NOTIFY_RIGHT: ReadonlySet<Right> = new Set(['notify']);

/** Checks a `/ws` request: who it is, its first room and `since`. */
export async function identify(request: UpgradeRequest, query: URLSearchParams, auth: Authenticator): Promise<Verified> {
  let username: string;
  let userId: string;
  let rights = NO_RIGHTS;
  if (auth.kind === 'jwt') {
    const token = findToken(request, query);
    if (token === null) return unauthorized('a token is needed: Authorization: Bearer, the token cookie, or the token query parameter');
    let claims: Record<string, unknown>;
    try {
      claims = (await jwtVerify(token, auth.key, { algorithms: [auth.algorithm] })).payload;
    } catch (error) {
      return unauthorized(tokenProblem(error));
    }
    const name = typeof claims['name'] === 'string' ? claims['name'].normalize('NFC') : claims['name'];
    const sub = typeof claims['sub'] === 'string' ? claims['sub'].normalize('NFC') : claims['sub'];
    if (!isUsername(name)) return unauthorized(`the token's name claim must be ${USERNAME_RULE}`);
    if (!isUserId(sub)) return unauthorized(`the token's sub claim must be ${USER_ID_RULE}`);
    username = name;
    userId = sub;
    const granted = claims['rights'];
    if (Array.isArray(granted) && granted.includes('notify')) rights = NOTIFY_RIGHT;
  } else {
    const name = param(query, 'username');
    const id = param(query, 'userId');
    if (name === null || name === '') return badRequest('username', 'missing');
    if (!isUsername(name)) return badRequest('username', `must be ${USERNAME_RULE}`);
    if (id === null || id === '') return badRequest('userId', 'missing');
    if (!isUserId(id)) return badRequest('userId', `must be ${USER_ID_RULE}`);
    username = name;
    userId = id;
  }
  const room = param(query, 'room') ?? 'general';
  if (!isRoomName(room)) return badRequest('room', 'must be 1-64 Unicode letters, digits, _ . - :');
  const sinceText = query.get('since');
  let since: StreamId | undefined;
  if (sinceText !== null) {
    const parsed = parseStreamId(sinceText);
    if (parsed === null) return badRequest('since', 'must be the id (<epoch>-<offset>) of a chat or notification');
    since = parsed;
  }
  return { ok: true, identity: { username, userId, rights, room, since } };
}
