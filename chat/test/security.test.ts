/**
 * Security and abuse limits (chat/README.md, "Security"): origins (the library's `origins`: the
 * server's own and `allowOrigins`; `requireOrigin`), the query's fields (400 naming the field),
 * JWT (HS256 and RS256 through jose: a missing, bad, expired or wrong-algorithm token is 401), and
 * the library's abuse limits as the chat turns them on (messages and bytes per connection,
 * answered `rate_limited` before the 1008; handshakes and connections per address, 429). Time is
 * a fake performance.now() where the limits need it; sockets stay real.
 */

import { generateKeyPairSync } from 'node:crypto';
import { SignJWT, UnsecuredJWT } from 'jose';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CHAT_LIMITS, type ChatOptions } from '../src/index.js';
import { HOST, cleanup, connectClient, get, rawRequest, startChat, upgradeRequest, type ClientOptions } from './helpers.js';

afterEach(cleanup);

describe('origins', () => {
  it('a foreign origin gets 403 (WS_ERR_HANDSHAKE_ORIGIN); the server’s own origin and no Origin at all are accepted', async () => {
    const test = await startChat();
    const foreign = await rawRequest(test.port, upgradeRequest(test.port, '/ws?username=Ana&userId=ana', { Origin: 'http://evil.example' }));
    expect(foreign.head.split('\r\n')[0]).toBe('HTTP/1.1 403 Forbidden');
    const own = await rawRequest(test.port, upgradeRequest(test.port, '/ws?username=Ana&userId=ana', { Origin: `http://${HOST}:${test.port}` }));
    expect(own.head.split('\r\n')[0]).toBe('HTTP/1.1 101 Switching Protocols');
    await connectClient(test.url); // the ws client sends no Origin
    expect((await get(test, '/metrics')).text).toContain('chat_handshakes_refused_total{reason="WS_ERR_HANDSHAKE_ORIGIN"} 1');
  });

  it('allowOrigins (--allow-origin) adds origins to the server’s own', async () => {
    const test = await startChat({ allowOrigins: ['https://app.example.com'] });
    const allowed = await rawRequest(test.port, upgradeRequest(test.port, '/ws?username=Ana&userId=ana', { Origin: 'https://app.example.com' }));
    expect(allowed.status).toBe(101);
    const own = await rawRequest(test.port, upgradeRequest(test.port, '/ws?username=Ana&userId=ana', { Origin: `http://${HOST}:${test.port}` }));
    expect(own.status).toBe(101);
    const other = await rawRequest(test.port, upgradeRequest(test.port, '/ws?username=Ana&userId=ana', { Origin: 'https://other.example.com' }));
    expect(other.status).toBe(403);
  });

  it('requireOrigin (--require-origin) refuses a request without Origin with 403', async () => {
    const test = await startChat({ requireOrigin: true });
    const missing = await rawRequest(test.port, upgradeRequest(test.port, '/ws?username=Ana&userId=ana'));
    expect(missing.head.split('\r\n')[0]).toBe('HTTP/1.1 403 Forbidden');
    const own = await rawRequest(test.port, upgradeRequest(test.port, '/ws?username=Ana&userId=ana', { Origin: `http://${HOST}:${test.port}` }));
    expect(own.status).toBe(101);
  });
});

describe('the query: 400 with a JSON body naming the field and the problem', () => {
  it.each([
    ['/ws', 'username', 'missing'],
    ['/ws?username=&userId=a', 'username', 'missing'],
    ['/ws?username=a%20b&userId=a', 'username', 'must be 1-32 Unicode letters, digits, _ . -'],
    [`/ws?username=${'a'.repeat(33)}&userId=a`, 'username', 'must be 1-32 Unicode letters, digits, _ . -'],
    ['/ws?username=a%07&userId=a', 'username', 'must be 1-32 Unicode letters, digits, _ . -'],
    ['/ws?username=%3Cimg%3E&userId=a', 'username', 'must be 1-32 Unicode letters, digits, _ . -'],
    ['/ws?username=Ana', 'userId', 'missing'],
    [`/ws?username=Ana&userId=${'1'.repeat(65)}`, 'userId', 'must be 1-64 Unicode letters, digits, _ . - :'],
    ['/ws?username=Ana&userId=a/b', 'userId', 'must be 1-64 Unicode letters, digits, _ . - :'],
    ['/ws?username=Ana&userId=ana&room=a%20room', 'room', 'must be 1-64 Unicode letters, digits, _ . - :'],
    ['/ws?username=Ana&userId=ana&since=yesterday', 'since', 'must be the id (<epoch>-<offset>) of a chat or notification'],
  ])('%s: %s %s', async (target, field, problem) => {
    const test = await startChat();
    const response = await rawRequest(test.port, upgradeRequest(test.port, target));
    const body = JSON.stringify({ error: 'invalid_request', field, problem });
    expect(response.raw).toBe(
      'HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: application/json\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\n\r\n${body}`,
    );
    expect((await get(test, '/metrics')).text).toContain('chat_handshakes_refused_total{reason="invalid_request"} 1');
  });

  it('accepts Unicode letters and digits (NFC), and a UUID as userId', async () => {
    const test = await startChat();
    const client = await connectClient(test.url, { username: 'Jose\u0301_Ωμέγα.名前-9', userId: '0b7e6a4c-3f1d-4c52-9a43-8a3b5d1f0e77' });
    expect((await client.nextOf('user_list')).data).toEqual({ users: [{ username: 'José_Ωμέγα.名前-9', userId: '0b7e6a4c-3f1d-4c52-9a43-8a3b5d1f0e77' }] });
  });
});

const SECRET = 'test-secret-for-hs256-at-least-32-bytes';
const secretKey = new TextEncoder().encode(SECRET);

function claims(extra: Record<string, unknown> = {}): SignJWT {
  return new SignJWT({ name: 'Ana', rights: [], ...extra }).setSubject('ana-1').setIssuedAt();
}

/** The 401 a bad token gets, exactly. */
function unauthorized(problem: string): string {
  const body = JSON.stringify({ error: 'unauthorized', problem });
  return (
    'HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Type: application/json\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\nWWW-Authenticate: Bearer\r\n\r\n${body}`
  );
}

describe('JWT, HS256 (--auth jwt --jwt-secret)', () => {
  const options: ChatOptions = { auth: 'jwt', jwtSecret: SECRET };

  it('a valid token from Authorization, the token cookie or the token query parameter: the identity is the token’s (sub, name)', async () => {
    const test = await startChat(options);
    const token = await claims().setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(secretKey);
    const ways: ClientOptions[] = [{ headers: { Authorization: `Bearer ${token}` } }, { headers: { Cookie: `theme=dark; token=${token}` } }, { query: { token } }];
    for (const how of ways) {
      const client = await connectClient(test.url, { username: 'Mallory', userId: 'mallory', ...how });
      expect((await client.nextOf('user_list')).data).toEqual({ users: [{ username: 'Ana', userId: 'ana-1' }] });
      await client.close();
    }
  });

  it.each<[string, () => Promise<string>, string]>([
    ['a token signed with another secret', () => claims().setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(`${SECRET}-other`)), "the token's signature is not valid"],
    ['an expired token', () => claims().setProtectedHeader({ alg: 'HS256' }).setExpirationTime(Math.floor(Date.now() / 1000) - 60).sign(secretKey), 'the token has expired'],
    ['a token of another algorithm (HS512, same secret)', () => claims().setProtectedHeader({ alg: 'HS512' }).sign(secretKey), "the token's algorithm is not allowed"],
    ['an unsecured token (alg none)', () => Promise.resolve(new UnsecuredJWT({ name: 'Ana' }).setSubject('ana-1').encode()), "the token's algorithm is not allowed"],
    ['something that is not a JWT', () => Promise.resolve('not-a-jwt'), 'the token is not a valid JWT'],
    ['a token whose name is not a username', () => claims({ name: 'Ana <script>' }).setProtectedHeader({ alg: 'HS256' }).sign(secretKey), "the token's name claim must be 1-32 Unicode letters, digits, _ . -"],
    ['a token without sub', () => new SignJWT({ name: 'Ana' }).setProtectedHeader({ alg: 'HS256' }).sign(secretKey), "the token's sub claim must be 1-64 Unicode letters, digits, _ . - :"],
  ])('%s: 401', async (_name, make, problem) => {
    const test = await startChat(options);
    const response = await rawRequest(test.port, upgradeRequest(test.port, `/ws?token=${await make()}`));
    expect(response.raw).toBe(unauthorized(problem));
    expect((await get(test, '/metrics')).text).toContain('chat_handshakes_refused_total{reason="unauthorized"} 1');
  });

  it('a token cookie that is not percent-encoded text: 401, not a hook failure', async () => {
    const test = await startChat(options);
    const response = await rawRequest(test.port, upgradeRequest(test.port, '/ws', { Cookie: 'token=%E0%A4%A' }));
    expect(response.raw).toBe(unauthorized('the token is not a valid JWT'));
  });

  it('no token: 401', async () => {
    const test = await startChat(options);
    const response = await rawRequest(test.port, upgradeRequest(test.port, '/ws?username=Ana&userId=ana'));
    expect(response.raw).toBe(unauthorized('a token is needed: Authorization: Bearer, the token cookie, or the token query parameter'));
  });

  it('notification: forbidden without the notify right in the token', async () => {
    const test = await startChat(options);
    const token = await claims({ rights: ['read'] }).setProtectedHeader({ alg: 'HS256' }).sign(secretKey);
    const client = await connectClient(test.url, { query: { token } });
    client.send({ type: 'notification', content: 'hear ye' });
    expect((await client.nextOf('error')).data).toEqual({ code: 'forbidden' });
  });
});

describe('JWT, RS256 (--auth jwt --jwt-public-key FILE)', () => {
  const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const publicPem = pair.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const options: ChatOptions = { auth: 'jwt', jwtPublicKey: publicPem };

  it('a token signed with the private key is accepted, with its rights', async () => {
    const test = await startChat(options);
    const token = await claims({ rights: ['notify'] }).setProtectedHeader({ alg: 'RS256' }).setExpirationTime('5m').sign(pair.privateKey);
    const client = await connectClient(test.url, { headers: { Authorization: `Bearer ${token}` } });
    await client.nextOf('user_list');
    client.send({ type: 'notification', content: 'signed' });
    expect(await client.nextOf('notification')).toMatchObject({ from: 'Ana', content: 'signed' });
  });

  it.each<[string, () => Promise<string>, string]>([
    ['a token signed with another key', () => claims().setProtectedHeader({ alg: 'RS256' }).sign(other.privateKey), "the token's signature is not valid"],
    ['an expired token', () => claims().setProtectedHeader({ alg: 'RS256' }).setExpirationTime(Math.floor(Date.now() / 1000) - 1).sign(pair.privateKey), 'the token has expired'],
    ['HS256 with the public key as the secret (algorithm confusion)', () => claims().setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(publicPem)), "the token's algorithm is not allowed"],
    ['a token of another algorithm (PS256, same key)', () => claims().setProtectedHeader({ alg: 'PS256' }).sign(pair.privateKey), "the token's algorithm is not allowed"],
  ])('%s: 401', async (_name, make, problem) => {
    const test = await startChat(options);
    const response = await rawRequest(test.port, upgradeRequest(test.port, `/ws?token=${await make()}`));
    expect(response.raw).toBe(unauthorized(problem));
  });
});

describe('abuse limits (the library’s, on by default in the chat)', () => {
  it('on by default (CHAT_LIMITS): the 41st message in a burst is answered rate_limited, and dropped', async () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    const test = await startChat();
    const client = await connectClient(test.url);
    await client.nextOf('user_list');
    expect(CHAT_LIMITS.messageRate).toEqual({ perSecond: 20, burst: 40 });
    for (let i = 0; i < 41; i++) client.send({ type: 'heartbeat' });
    // The refusal is answered as the message arrives, before the heartbeats ahead of it are.
    const answers = [];
    for (let i = 0; i < 41; i++) answers.push(await client.next());
    expect(answers.filter((m) => m.type === 'heartbeat')).toHaveLength(40);
    expect(answers.filter((m) => m.type === 'error')).toMatchObject([{ type: 'error', data: { code: 'rate_limited', limit: 'messages' }, room: null }]);
    expect(test.chat.stats().dropped).toEqual({ rate_limited: 1 });
  });

  it('messages: rate_limited for each message dropped, refilled with time, 1008 for a client that keeps on', async () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    const test = await startChat({ limits: { messageRate: { perSecond: 5, burst: 2 }, maxDropped: 3 } });
    const client = await connectClient(test.url);
    await client.nextOf('user_list');
    client.send({ type: 'chat', content: 'one' });
    client.send({ type: 'chat', content: 'two' });
    client.send({ type: 'chat', content: 'three' });
    // 'three' is refused as it arrives, before the first two are appended and echoed.
    const first = [await client.next(), await client.next(), await client.next()];
    expect(first.filter((m) => m.type === 'chat').map((m) => m.content)).toEqual(['one', 'two']);
    expect(first.filter((m) => m.type === 'error')).toMatchObject([
      { type: 'error', content: 'too many messages: slow down (this message was dropped)', data: { code: 'rate_limited', limit: 'messages' } },
    ]);
    vi.advanceTimersByTime(200); // one token back
    client.send({ type: 'chat', content: 'four' });
    expect((await client.next()).content).toBe('four');
    for (let i = 0; i < 3; i++) client.send({ type: 'chat', content: `flood ${i}` });
    for (let i = 0; i < 3; i++) expect((await client.next()).data).toEqual({ code: 'rate_limited', limit: 'messages' });
    expect(await client.closed).toEqual({ code: 1008, reason: 'rate limit exceeded' });
    expect(test.chat.stats().messages_received).toBe(3);
    const metrics = (await get(test, '/metrics')).text;
    expect(metrics).toContain('chat_rate_limit_hits_total{limit="messages"} 4');
    expect(metrics).toContain('chat_closes_total{code="1008"} 1');
  });

  it('bytes: a message over the byte rate is answered rate_limited', async () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    const test = await startChat({ limits: { byteRate: { perSecond: 100, burst: 100 } } });
    const client = await connectClient(test.url);
    await client.nextOf('user_list');
    const message = { type: 'chat', content: 'x'.repeat(60) }; // 88 bytes
    client.send(message);
    expect((await client.next()).type).toBe('chat');
    client.send(message);
    expect((await client.next()).data).toEqual({ code: 'rate_limited', limit: 'bytes' });
    vi.advanceTimersByTime(1000);
    client.send(message);
    expect((await client.next()).type).toBe('chat');
  });

  it('handshakes per address: 429 with Retry-After past the burst, accepted again once it refills', async () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    const test = await startChat({ limits: { handshakeRate: { perSecond: 1, burst: 2 } } });
    await connectClient(test.url, { username: 'A' });
    await connectClient(test.url, { username: 'B' });
    const refused = await rawRequest(test.port, upgradeRequest(test.port, '/ws?username=C&userId=c'));
    expect(refused.head.split('\r\n')[0]).toBe('HTTP/1.1 429 Too Many Requests');
    expect(refused.headers['retry-after']).toBe('1');
    vi.advanceTimersByTime(1000);
    await connectClient(test.url, { username: 'C' });
    expect((await get(test, '/metrics')).text).toContain('chat_rate_limit_hits_total{limit="handshakes"} 1');
  });

  it('connections per address: 429 past the limit, accepted again once one closes', async () => {
    const test = await startChat({ limits: { connectionsPerAddress: 2 } });
    const first = await connectClient(test.url, { username: 'A' });
    await connectClient(test.url, { username: 'B' });
    const refused = await rawRequest(test.port, upgradeRequest(test.port, '/ws?username=C&userId=c'));
    expect(refused.head.split('\r\n')[0]).toBe('HTTP/1.1 429 Too Many Requests');
    await first.close();
    for (let turn = 0; test.chat.stats().current_connections !== 1; turn++) await new Promise((resolve) => setImmediate(resolve));
    await connectClient(test.url, { username: 'C' });
    expect((await get(test, '/metrics')).text).toContain('chat_rate_limit_hits_total{limit="connections"} 1');
  });

  it('limits: false (--no-limits) turns them all off', async () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    const test = await startChat({ limits: false });
    const client = await connectClient(test.url);
    await client.nextOf('user_list');
    for (let i = 0; i < 200; i++) client.send({ type: 'heartbeat' });
    for (let i = 0; i < 200; i++) expect((await client.next()).type).toBe('heartbeat');
  });
});
