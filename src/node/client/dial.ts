/**
 * One attempt at opening a WebSocket to one URL, phase by phase: DNS, TCP connect, the proxy's
 * CONNECT tunnel, TLS, then the HTTP handshake up to the response head. Each phase is timed, and
 * a failure in it rejects with the ConnectError code that names it. The attempt can be cancelled
 * at any point (connect()'s timeout or AbortSignal): the socket is destroyed and the pending step
 * rejects with the cancellation's error.
 *
 * Checking the response (RFC 6455 4.1) is the core's (client-handshake.ts); redirects and building
 * the connection are connect()'s.
 */

import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { Socket, connect as netConnect, isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect, type ConnectionOptions as TlsConnectionOptions, type TLSSocket } from 'node:tls';
import { WebSocketError, type ConnectErrorCode } from '../../protocol/errors.js';
import { ResponseHeadParser, type ResponseHead } from '../../protocol/http-response.js';
import { ConnectError, type ConnectErrorDetails, type ConnectPhase, type ConnectTimings } from './connect-error.js';
import type { ResolvedClientOptions } from './options.js';
import { buildConnectRequest, type ProxyTarget } from './proxy.js';
import { readBody } from './response-body.js';
import type { Target } from './url.js';

/** The response head, on the socket it came from, and the bytes that followed it. */
export interface Answered {
  readonly socket: Duplex;
  readonly head: ResponseHead;
  readonly rest: Uint8Array;
}


type Resolve<T> = (value: T) => void;
type Reject = (error: ConnectError) => void;

export class Attempt {
  readonly timings: ConnectTimings = { total: 0 };
  private readonly target: Target;
  private readonly options: ResolvedClientOptions;
  private readonly proxy: ProxyTarget | null;
  private readonly started = performance.now();
  private phase: ConnectPhase | undefined;
  // When the running phase started; -1 when none runs (0 is a time a clock can read).
  private phaseStarted = -1;
  private socket: Duplex | null = null;
  private cancelled: ConnectError | null = null;
  /** The reject of the step in progress, which a cancellation calls. */
  private pending: Reject | null = null;
  /** Aborted when the attempt is cancelled: handed to createConnection (made only for it). */
  private abort: AbortController | null = null;
  /** The protocols offered by ALPN (TLS), when HTTP/2 is wanted; Node offers none by default. */
  private alpn: readonly string[] | undefined;

  constructor(target: Target, options: ResolvedClientOptions, proxy: ProxyTarget | null) {
    this.target = target;
    this.options = options;
    this.proxy = proxy;
  }

  get currentPhase(): ConnectPhase | undefined {
    return this.phase;
  }

  /** A ConnectError for this attempt, with the phase, URL and timings so far. */
  error(code: ConnectErrorCode, message: string, details: ConnectErrorDetails = {}): ConnectError {
    this.closePhase();
    return new ConnectError(code, message, { phase: this.phase, url: this.target.href, timings: { ...this.timings }, ...details });
  }

  /** Stops the attempt (timeout, abort): the socket is destroyed, the pending step rejects. */
  cancel(error: ConnectError): void {
    if (this.cancelled !== null) return;
    this.cancelled = error;
    this.socket?.destroy();
    this.abort?.abort(error);
    const pending = this.pending;
    this.pending = null;
    pending?.(error);
  }

  /**
   * Opens the transport (or takes `opened`, one already open: an HTTP/2 attempt's TLS socket on
   * which ALPN chose HTTP/1.1) and sends `request`; resolves with the response head.
   */
  async run(request: string, opened?: Duplex): Promise<Answered> {
    // A new transport for HTTP/1.1 offers no h2 (an HTTP/2 attempt that fell back offered it).
    if (opened === undefined) this.alpn = undefined;
    const socket = opened ?? (await this.open());
    this.enter('handshake');
    socket.write(request, 'latin1');
    const answered = await this.readHead(socket);
    this.closePhase();
    return answered;
  }

  /** The first KiB of a refused handshake's body (see response-body.ts). Never rejects. */
  readBody(answered: Answered): Promise<Buffer> {
    return readBody(answered.socket, answered.head, answered.rest);
  }

  /**
   * Opens the transport, phase by phase, offering `alpn` in the TLS handshake (wss:): the caller
   * reads what was chosen from the socket's `alpnProtocol`.
   */
  openTransport(alpn: readonly string[]): Promise<Duplex> {
    this.alpn = alpn;
    return this.open();
  }

  /** The transport now belongs to someone else (an HTTP/2 session): a cancellation leaves it alone. */
  detach(): void {
    this.socket = null;
  }

  private async open(): Promise<Duplex> {
    const { target, options, proxy } = this;
    const create = options.createConnection;
    if (create !== undefined) {
      this.enter('connect');
      let socket: Duplex;
      let created: Promise<Duplex> | undefined;
      const controller = (this.abort = new AbortController());
      if (this.cancelled !== null) controller.abort(this.cancelled);
      try {
        const request = { hostname: target.hostname, port: target.port, secure: target.secure, signal: controller.signal };
        created = Promise.resolve(create(request));
        socket = await this.race(created);
      } catch (error) {
        // Cancelled first: a transport that still arrives would be left open by everyone.
        void created?.then(
          (late) => late.destroy(),
          () => {},
        );
        if (error instanceof ConnectError) throw error;
        throw this.error('WS_ERR_CONNECT', `createConnection failed: ${describe(error)}`, { cause: error });
      }
      this.socket = socket;
      // A net.Socket still connecting (net.connect() returned as is): its failure is the connect
      // phase's, not a missing handshake response.
      if (socket instanceof Socket && socket.connecting) return this.tcp(() => socket as Socket, `${target.hostname}:${target.port}`);
      return socket;
    }
    if (target.socketPath !== undefined) {
      this.enter('connect');
      const socket = await this.tcp(() => netConnect({ path: target.socketPath!, allowHalfOpen: true }), target.socketPath);
      // wss+unix: TLS over the Unix socket; the URL asked for it, so never fall back to plain text.
      return target.secure ? this.secureOver(socket) : socket;
    }
    const hop = proxy ?? target;
    const address = await this.resolve(hop.hostname);
    let socket: Duplex;
    if (target.secure && proxy === null) {
      // TCP and TLS on one TLSSocket (so that it owns the half-close), timed apart by its events.
      this.enter('connect');
      // allowHalfOpen: the connection ends its side of TCP itself (Connection decides, RFC 6455
      // 7.1.1); Node's tls.connect takes it (net.Socket's option) though @types/node 20 omits it.
      const options: TlsConnectionOptions & { allowHalfOpen: boolean } = {
        ...this.tlsOptions(),
        host: address.address,
        port: hop.port,
        allowHalfOpen: true,
      };
      socket = await this.tcp(() => tlsConnect(options), `${hop.hostname}:${hop.port}`);
      return this.secure(socket as TLSSocket);
    }
    this.enter('connect');
    socket = await this.tcp(
      () => netConnect({ host: address.address, port: hop.port, family: address.family, allowHalfOpen: true }),
      `${hop.hostname}:${hop.port}`,
    );
    if (proxy !== null) socket = await this.tunnel(socket, proxy);
    return target.secure ? this.secureOver(socket) : socket;
  }

  /** TLS on a transport that is already connected (a proxy's tunnel, a Unix socket). */
  private secureOver(socket: Duplex): Promise<Duplex> {
    this.openingAllowed();
    this.enter('tls');
    const tls = tlsConnect({ ...this.tlsOptions(), socket });
    this.socket = tls;
    return this.secure(tls);
  }

  private async resolve(hostname: string): Promise<LookupAddress> {
    const family = isIP(hostname);
    if (family !== 0) return { address: hostname, family };
    this.enter('dns');
    const lookup = this.options.lookup ?? dnsLookup;
    return this.wait<LookupAddress>((resolve, reject) => {
      try {
        lookup(hostname, { family: this.options.family, all: false }, (error, address, resolvedFamily) => {
          if (error !== null) {
            reject(this.error('WS_ERR_DNS', `cannot resolve ${hostname}: ${describe(error)}`, { cause: error }));
          } else if (typeof address !== 'string') {
            reject(this.error('WS_ERR_DNS', `cannot resolve ${hostname}: the lookup gave no address`));
          } else resolve({ address, family: resolvedFamily ?? isIP(address) });
        });
      } catch (error) {
        reject(this.error('WS_ERR_DNS', `cannot resolve ${hostname}: ${describe(error)}`, { cause: error }));
      }
    });
  }

  /** Opens a socket and waits for its TCP connection. */
  private tcp(open: () => Socket, where: string): Promise<Socket> {
    this.openingAllowed();
    const socket = open();
    this.socket = socket;
    return this.wait<Socket>((resolve, reject) => {
      const onConnect = (): void => {
        socket.off('error', onError);
        resolve(socket);
      };
      const onError = (error: Error): void => {
        socket.off('connect', onConnect);
        reject(this.error('WS_ERR_CONNECT', `cannot connect to ${where}: ${describe(error)}`, { cause: error }));
      };
      socket.once('connect', onConnect);
      socket.once('error', onError);
    });
  }

  /** Waits for the TLS handshake of `socket` (a TLSSocket whose TCP may still be connecting). */
  private secure(socket: TLSSocket): Promise<Duplex> {
    this.enter('tls');
    return this.wait<Duplex>((resolve, reject) => {
      const onSecure = (): void => {
        socket.off('error', onError);
        socket.off('close', onClose);
        resolve(socket);
      };
      const onError = (error: Error): void => {
        socket.off('secureConnect', onSecure);
        socket.off('close', onClose);
        reject(this.error('WS_ERR_TLS', `TLS failed: ${describe(error)}`, { cause: error }));
      };
      const onClose = (): void => {
        socket.off('secureConnect', onSecure);
        socket.off('error', onError);
        reject(this.error('WS_ERR_TLS', 'TLS failed: the connection closed during the TLS handshake'));
      };
      socket.once('secureConnect', onSecure);
      socket.once('error', onError);
      socket.once('close', onClose);
    });
  }

  /** Asks the proxy for a tunnel to the target (CONNECT); resolves with the tunnel's socket. */
  private async tunnel(socket: Duplex, proxy: ProxyTarget): Promise<Duplex> {
    this.enter('proxy');
    socket.write(buildConnectRequest(this.target, proxy), 'latin1');
    let answered: Answered;
    try {
      answered = await this.readHead(socket);
    } catch (error) {
      if (!(error instanceof ConnectError) || error.code !== 'WS_ERR_INVALID_RESPONSE') throw error;
      throw this.error('WS_ERR_PROXY', `the proxy ${proxy.hostname}:${proxy.port} ${error.message.replace(/^the server /, '')}`, { cause: error });
    }
    const status = answered.head.status;
    if (status < 200 || status > 299) {
      const body = await this.readBody(answered);
      socket.destroy();
      throw this.error(
        'WS_ERR_PROXY',
        `the proxy ${proxy.hostname}:${proxy.port} refused the tunnel: ${status} ${answered.head.statusText}`,
        { status, headers: answered.head.headers, body },
      );
    }
    // Bytes after a 2xx to CONNECT already belong to the tunnel (RFC 9110 9.3.6).
    if (answered.rest.length > 0) socket.unshift(Buffer.from(answered.rest));
    socket.resume();
    return socket;
  }

  /**
   * Reads a response head from `socket`, leaving it paused with the rest of the last chunk
   * returned. On failure the socket is destroyed: it is half-open (allowHalfOpen), so nothing
   * else would end it.
   */
  private readHead(socket: Duplex): Promise<Answered> {
    const parser = new ResponseHeadParser({ maxHeaderSize: this.options.maxHeaderSize, maxHeaderCount: this.options.maxHeaderCount });
    return this.wait<Answered>((resolve, reject) => {
      const cleanup = (): void => {
        socket.off('data', onData);
        socket.off('end', onEnd);
        socket.off('close', onEnd);
        socket.off('error', onError);
      };
      const fail = (error: ConnectError): void => {
        cleanup();
        socket.destroy();
        reject(error);
      };
      const onData = (chunk: Buffer): void => {
        let head: ResponseHead | null;
        try {
          head = parser.push(chunk);
        } catch (error) {
          const message = error instanceof WebSocketError ? error.message : describe(error);
          fail(this.error('WS_ERR_INVALID_RESPONSE', `the server sent ${message}`, { cause: error }));
          return;
        }
        if (head === null) return;
        cleanup();
        socket.pause();
        resolve({ socket, head, rest: parser.remainder });
      };
      const onEnd = (): void => {
        fail(this.error('WS_ERR_INVALID_RESPONSE', 'the server closed the connection without answering the handshake'));
      };
      const onError = (error: Error): void => {
        fail(this.error('WS_ERR_INVALID_RESPONSE', `the connection failed before the handshake response: ${describe(error)}`, { cause: error }));
      };
      socket.on('data', onData);
      socket.once('end', onEnd);
      socket.once('close', onEnd);
      socket.once('error', onError);
      socket.resume();
    });
  }

  private tlsOptions(): TlsConnectionOptions {
    const { tls } = this.options;
    const hostname = this.target.hostname;
    return {
      ca: tls.ca,
      cert: tls.cert,
      key: tls.key,
      passphrase: tls.passphrase,
      rejectUnauthorized: tls.rejectUnauthorized,
      // SNI takes host names only (RFC 6066 3); the certificate is checked against the host either way.
      servername: tls.servername ?? (isIP(hostname) === 0 ? hostname : undefined),
      host: tls.servername ?? hostname,
      ...(this.alpn === undefined ? {} : { ALPNProtocols: [...this.alpn] }),
    };
  }

  /**
   * Throws the cancellation if there was one. Called before a transport is made: a cancellation
   * can land while an earlier step settles (an abort during DNS, close() right after
   * new WebSocket()), and a socket opened after it would fail with nobody listening.
   */
  private openingAllowed(): void {
    if (this.cancelled !== null) throw this.cancelled;
  }

  /** Records the time of the phase ending and starts `phase`. */
  enter(phase: ConnectPhase): void {
    this.closePhase();
    this.phase = phase;
    this.phaseStarted = performance.now();
  }

  private closePhase(): void {
    const now = performance.now();
    if (this.phase !== undefined && this.phaseStarted !== -1) {
      this.timings[this.phase] = (this.timings[this.phase] ?? 0) + (now - this.phaseStarted);
      this.phaseStarted = -1;
    }
    this.timings.total = now - this.started;
  }

  /**
   * A step as one promise that the attempt's cancellation also rejects. Steps run one at a time,
   * so one field holds the pending step's reject (no set, no second promise per step: this runs
   * five times per connect).
   */
  wait<T>(executor: (resolve: Resolve<T>, reject: Reject) => void): Promise<T> {
    const cancelled = this.cancelled;
    if (cancelled !== null) return Promise.reject(cancelled);
    return new Promise<T>((resolve, reject) => {
      this.pending = reject;
      executor(
        (value) => {
          this.pending = null;
          resolve(value);
        },
        (error) => {
          this.pending = null;
          reject(error);
        },
      );
    });
  }

  race<T>(promise: Promise<T>): Promise<T> {
    return this.wait<T>((resolve, reject) => {
      promise.then(resolve, reject as (error: unknown) => void);
    });
  }
}

export function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' && !error.message.includes(code) ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}
