/**
 * The connection state machine: down -> (attempt) -> up -> (failure) -> down -> (backoff) -> ...
 *
 * An attempt makes a new session (session.ts), connects it, PINGs every connection, and lets the
 * broker subscribe what it needs (`opened`) before saying `up`: so `up` means messages flow. While
 * up, a heartbeat PINGs every connection every `heartbeatInterval`; a PING without an answer within
 * `commandTimeout`, an error event of a client, or a command that shows the connection is broken
 * (`fail`) ends the session: it is destroyed, the broker hears `down`, and the next attempt comes
 * after a bounded, jittered backoff (backoff.ts), as many times as it takes, until close().
 */

import { reconnectDelay, type Backoff } from './backoff.js';
import { createSession, withTimeout, type Session, type SessionOptions } from './session.js';
import { realTimers } from './timers.js';

export interface ConnectionOptions extends SessionOptions {
  readonly heartbeatInterval: number;
  readonly backoff: Backoff;
}

export interface ConnectionHost {
  /** A new session answers: subscribe what is wanted. The session is up once this resolves; if it rejects, the attempt failed. */
  opened(session: Session): Promise<void>;
  up(session: Session): void;
  /** A session ended: an attempt that failed (`wasUp` false) or the session that was up. */
  ended(session: Session, error: Error, wasUp: boolean): void;
}

export type ConnectionState = 'down' | 'up' | 'closed';

export class Connection {
  private readonly options: ConnectionOptions;
  private readonly host: ConnectionHost;
  private current: Session | null = null;
  private live = false;
  private attempts = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** The last failure, for diagnostics. */
  lastError: Error | null = null;

  constructor(options: ConnectionOptions, host: ConnectionHost) {
    this.options = options;
    this.host = host;
  }

  get state(): ConnectionState {
    return this.closed ? 'closed' : this.live ? 'up' : 'down';
  }

  /** The session that is up, if any. */
  get session(): Session | null {
    return this.live ? this.current : null;
  }

  start(): void {
    if (!this.closed && this.current === null && this.retryTimer === undefined) void this.attempt();
  }

  /**
   * A command on `session` failed in a way that shows the connection is broken: the session ends
   * (nothing happens if it ended already).
   */
  fail(session: Session, error: Error): void {
    if (session !== this.current) return;
    this.lastError = error;
    const wasLive = this.live;
    this.current = null;
    this.live = false;
    this.stopHeartbeat();
    session.destroy();
    if (this.closed) return;
    this.host.ended(session, error, wasLive);
    const delay = reconnectDelay(this.options.backoff, this.attempts++);
    this.retryTimer = realTimers.setTimeout(() => {
      this.retryTimer = undefined;
      void this.attempt();
    }, delay);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    realTimers.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.stopHeartbeat();
    const session = this.current;
    this.current = null;
    this.live = false;
    if (session !== null) await session.close();
  }

  private async attempt(): Promise<void> {
    if (this.closed) return;
    let session: Session;
    try {
      session = createSession(this.options, (error) => this.fail(session, error));
    } catch (error) {
      // Options are checked before (RedisBroker's constructor); this is only a safety net.
      this.lastError = error instanceof Error ? error : new Error(String(error));
      this.retryTimer = realTimers.setTimeout(() => {
        this.retryTimer = undefined;
        void this.attempt();
      }, reconnectDelay(this.options.backoff, this.attempts++));
      return;
    }
    this.current = session;
    try {
      await withTimeout(session.connect(), this.options.connectTimeout, 'connect');
      await withTimeout(session.ping(), this.options.commandTimeout, 'PING');
      if (session === this.current) await this.host.opened(session);
    } catch (error) {
      this.fail(session, error instanceof Error ? error : new Error(String(error)));
    }
    if (session !== this.current) {
      // Failed, or closed meanwhile: whatever it connected goes.
      session.destroy();
      return;
    }
    this.live = true;
    this.attempts = 0;
    this.startHeartbeat(session);
    this.host.up(session);
  }

  private startHeartbeat(session: Session): void {
    let pinging = false;
    this.heartbeatTimer = realTimers.setInterval(() => {
      if (pinging) return;
      pinging = true;
      withTimeout(session.ping(), this.options.commandTimeout, 'heartbeat PING').then(
        () => {
          pinging = false;
        },
        (error: unknown) => {
          pinging = false;
          this.fail(session, error instanceof Error ? error : new Error(String(error)));
        },
      );
    }, this.options.heartbeatInterval);
    this.heartbeatTimer.unref();
  }

  private stopHeartbeat(): void {
    realTimers.clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
  }
}
