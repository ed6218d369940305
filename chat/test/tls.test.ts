/**
 * `--cert FILE --key FILE`: the chat over TLS (`wss://`, and its pages over `https://`), the
 * certificate read again on SIGHUP without dropping a connection. Throwaway certificates come from
 * the openssl command line (test/node/client/tools.ts); the server is `chat/src/cli.ts` in a
 * process of its own, stopped by its PID.
 */

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type PeerCertificate } from 'node:tls';
import { afterEach, expect, it } from 'vitest';
import { describeWithTools, makeCertificate, OPENSSL } from '../../test/node/client/tools.js';
import { HOST, cleanup, connectClient, defer } from './helpers.js';
import { startChatProcess } from './processes.js';

afterEach(cleanup);

/** The certificate a new TLS connection is served (its common name), trusting `ca`. */
function servedName(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: HOST, port, ca, servername: 'localhost' }, () => {
      const certificate: PeerCertificate = socket.getPeerCertificate();
      socket.end();
      resolve(String(certificate.subject.CN));
    });
    socket.on('error', reject);
  });
}

function httpsGet(port: number, path: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get({ host: HOST, port, path, ca, servername: 'localhost' }, (response) => {
      let body = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

describeWithTools('the chat over TLS (--cert, --key)', [OPENSSL], () => {
  it('serves wss:// and https://; SIGHUP serves the new certificate to new connections while an old one stays open', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chat-tls-'));
    defer(() => rmSync(dir, { recursive: true, force: true }));
    const first = makeCertificate('first');
    const second = makeCertificate('second');
    const certFile = join(dir, 'cert.pem');
    const keyFile = join(dir, 'key.pem');
    writeFileSync(certFile, first.cert);
    writeFileSync(keyFile, first.key);
    const chat = await startChatProcess(['--port', '0', '--host', HOST, '--cert', certFile, '--key', keyFile], { scheme: 'https' });
    expect(chat.lines.find((line) => line['event'] === 'listening')).toMatchObject({ tls: true });

    expect(await servedName(chat.port, first.cert)).toBe('first');
    expect(await httpsGet(chat.port, '/readyz', first.cert)).toEqual({ status: 200, body: 'ready\n' });
    const old = await connectClient(chat.url, { username: 'ana', userId: 'ana', ca: first.cert });
    await old.nextOf('user_list');

    // The files replaced (as a renewal does), then SIGHUP to the server's PID.
    writeFileSync(certFile, second.cert);
    writeFileSync(keyFile, second.key);
    const from = chat.lines.length;
    chat.kill('SIGHUP');
    await chat.line((line) => line['event'] === 'certificate_reloaded', from);
    expect(await servedName(chat.port, second.cert)).toBe('second');
    const fresh = await connectClient(chat.url, { username: 'bo', userId: 'bo', ca: second.cert });
    expect((await fresh.nextOf('user_list')).data).toEqual({ users: [{ username: 'ana', userId: 'ana' }, { username: 'bo', userId: 'bo' }] });
    // The connection made with the old certificate is still open, and still served.
    expect((await old.nextOf('user_joined')).data).toEqual({ username: 'bo', userId: 'bo' });
    await old.sync();
    fresh.send({ type: 'chat', content: 'over TLS' });
    expect((await old.nextOf('chat')).content).toBe('over TLS');

    // A file that is not a certificate: SIGHUP logs it and keeps serving the last good one.
    writeFileSync(certFile, 'not a certificate');
    const badFrom = chat.lines.length;
    chat.kill('SIGHUP');
    await chat.line((line) => line['level'] === 50 && String(line['msg']).includes('could not be reloaded'), badFrom);
    expect(await servedName(chat.port, second.cert)).toBe('second');
  });
});
