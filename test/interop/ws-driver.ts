/**
 * ws's client, in this process, behind the same commands as the clients in other processes
 * (scripted.ts), so that test/interop/client-scenarios.ts runs one matrix for every client peer.
 */

import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { AsyncQueue, defer } from '../node/helpers.js';
import { sha256, type ClientDriver, type Line } from './scripted.js';

const MAX_PAYLOAD = 32 * 1024 * 1024;

function describeMessage(data: Buffer, isBinary: boolean): Line {
  if (!isBinary) {
    const text = data.toString('utf8');
    return data.length <= 4096 ? { ok: 'message', type: 'text', data: text } : { ok: 'message', type: 'text', size: data.length, sha256: sha256(data) };
  }
  return { ok: 'message', type: 'binary', size: data.length, sha256: sha256(data), ...(data.length <= 4096 ? { hex: data.toString('hex') } : {}) };
}

export class WsDriver implements ClientDriver {
  private readonly ws: WebSocket;
  private readonly events = new AsyncQueue<Line>();
  private readonly messages = new AsyncQueue<Line>();
  private readonly closeEvent: Promise<Line>;

  constructor(url: string, deflate: boolean) {
    this.ws = new WebSocket(url, { perMessageDeflate: deflate, maxPayload: MAX_PAYLOAD });
    defer(() => this.ws.terminate());
    this.ws.on('open', () => this.events.push({ ok: 'open', extensions: this.ws.extensions }));
    this.ws.on('error', (error) => this.events.push({ error: String(error) }));
    this.ws.on('message', (data: Buffer, isBinary: boolean) => this.messages.push(describeMessage(data, isBinary)));
    this.closeEvent = new Promise((resolve) =>
      this.ws.once('close', (code: number, reason: Buffer) => {
        // ws reports the peer's close frame (1005 without a code, 1006 without a closing handshake).
        const closed = { ok: 'closed', received: { code, reason: reason.toString('utf8') } };
        this.messages.end(new Error('closed'));
        resolve(closed);
      }),
    );
  }

  async next(): Promise<Line> {
    const line = await this.events.next();
    if (typeof line['error'] === 'string') throw new Error(`ws: ${line['error']}`);
    return line;
  }

  async request(command: Line): Promise<Line> {
    const ws = this.ws;
    const send = (data: string | Buffer): Promise<void> =>
      new Promise((resolve, reject) => ws.send(data, (error) => (error ? reject(error) : resolve())));
    switch (command['op']) {
      case 'text':
        await send(String(command['data']).repeat(Number(command['repeat'] ?? 1)));
        return { ok: 'sent' };
      case 'binary':
        await send(Buffer.from(String(command['hex']), 'hex'));
        return { ok: 'sent' };
      case 'random': {
        const data = randomBytes(Number(command['size']));
        await send(data);
        return { ok: 'sent', size: data.length, sha256: sha256(data) };
      }
      case 'recv':
        return this.messages.next().catch(() => this.closeEvent);
      case 'ping': {
        const payload = Buffer.from(String(command['hex']), 'hex');
        const started = performance.now();
        const pong = new Promise<void>((resolve) => {
          const onPong = (data: Buffer): void => {
            if (!data.equals(payload)) return;
            ws.off('pong', onPong);
            resolve();
          };
          ws.on('pong', onPong);
        });
        ws.ping(payload);
        await pong;
        return { ok: 'pong', latency: performance.now() - started };
      }
      case 'close':
        ws.close(Number(command['code']), String(command['reason']));
        return this.closeEvent;
      case 'wait_closed':
        return this.closeEvent;
      default:
        return { error: `unsupported op ${String(command['op'])}` };
    }
  }

  async end(): Promise<number | null> {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close();
    await this.closeEvent;
    return 0;
  }
}
