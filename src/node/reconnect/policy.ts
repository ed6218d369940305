/**
 * When to reconnect, and after how long: pure functions of what happened, the options, a random
 * source and the time, so the policy is tested without sockets or real time.
 *
 * - Backoff is exponential with FULL jitter on every attempt: the n-th retry waits a uniform draw
 *   from [0, min(maxDelay, minDelay * factor^n)] (the "Full Jitter" of AWS's "Exponential Backoff
 *   And Jitter"), so clients that lost the same server do not all come back at the same moment.
 * - A server that says when to come back is obeyed: Retry-After on a 429 or 503 (RFC 9110
 *   10.2.3: seconds or an HTTP-date), and the close codes 1012 (Service Restart: "reconnect using
 *   a randomized delay of 5 - 30s", IANA registry, hybi msg09649) and 1013 (Try Again Later).
 *   maxDelay bounds these too: it is the longest any wait can be. Under a maxDelay below 30 s the
 *   5-30 s window is scaled down to (maxDelay / 6, maxDelay), keeping its jitter.
 * - Some answers mean "do not come back" (shouldReconnect): by default the application's own close
 *   codes 4000-4999 (RFC 6455 7.4.2) and the statuses 401 and 403.
 */

import type { ConnectError } from '../client/connect-error.js';

/** How a connection attempt or a connection ended. */
export type DisconnectInfo =
  /** An open connection closed (CloseResult: the peer's code, or 1006 when it was lost). */
  | {
      /** An open connection closed. */
      readonly kind: 'closed';
      /** Its CloseResult's code: the peer's (1005 for none), ours when we failed it, or 1006. */
      readonly code: number;
      /** Its CloseResult's reason. */
      readonly reason: string;
      /** Whether the closing handshake completed (RFC 6455 7.1.4). */
      readonly wasClean: boolean;
    }
  /** The server answered the handshake with an HTTP status other than 101. */
  | {
      /** The handshake was answered with another status than 101. */
      readonly kind: 'refused';
      /** That status (429 or 503 with Retry-After set the wait; 401 and 403 stop by default). */
      readonly status: number;
      /** The response's headers: lower-case names, a repeated header as an array. */
      readonly headers: Readonly<Record<string, string | string[]>>;
      /** The attempt's ConnectError (WS_ERR_UNEXPECTED_RESPONSE), with the body's first KiB. */
      readonly error: ConnectError;
    }
  /** The attempt failed otherwise (DNS, TCP, TLS, timeout, invalid 101), or onConnect threw. */
  | {
      /** The attempt failed before a connection opened, or onConnect threw. */
      readonly kind: 'failed';
      /** Why: a ConnectError (its code says the phase), or what onConnect threw. */
      readonly error: Error;
    };

export interface BackoffSettings {
  readonly minDelay: number;
  readonly maxDelay: number;
  readonly factor: number;
}

export interface Policy extends BackoffSettings {
  readonly maxAttempts: number;
  readonly shouldReconnect: (info: DisconnectInfo) => boolean;
}

/** Retry now after `retryIn` ms, or stop, saying why. */
export type Decision = { readonly retryIn: number } | { readonly stop: string };

// IANA WebSocket close code registry, 1012: "a randomized delay of 5 - 30s".
export const RESTART_DELAY_MIN = 5_000;
export const RESTART_DELAY_MAX = 30_000;
const SERVICE_RESTART = 1012;
const TRY_AGAIN_LATER = 1013;

/**
 * The default of `shouldReconnect`: false for a close code the application chose (4000-4999) and
 * for 401 Unauthorized or 403 Forbidden; true for everything else.
 */
export function shouldReconnectByDefault(info: DisconnectInfo): boolean {
  if (info.kind === 'closed') return !(info.code >= 4000 && info.code <= 4999);
  if (info.kind === 'refused') return info.status !== 401 && info.status !== 403;
  return true;
}

/** The upper bound of the n-th retry's wait (n from 0): min(maxDelay, minDelay * factor^n). */
export function backoffCap(n: number, settings: BackoffSettings): number {
  // factor^n overflows to Infinity for large n, and min() takes maxDelay then.
  return Math.min(settings.maxDelay, settings.minDelay * settings.factor ** n);
}

/** Full jitter: a uniform draw from [0, backoffCap(n)]. */
export function backoffDelay(n: number, settings: BackoffSettings, random: () => number): number {
  return random() * backoffCap(n, settings);
}

/**
 * RFC 9110 10.2.3: `Retry-After: 120` (delay-seconds) or an HTTP-date. Milliseconds from `now`
 * (0 for a date in the past), or undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | readonly string[] | undefined, now: number): number | undefined {
  const header = typeof value === 'string' ? value : value?.[0];
  if (header === undefined) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // An HTTP-date starts with the day's name (IMF-fixdate, and the obsolete RFC 850 and asctime forms).
  if (!/^[A-Za-z]{3}/.test(text)) return undefined;
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/**
 * What to do after `info`. `failures` counts the attempts in a row that failed, this one
 * included (0 when an open connection closed): it picks the backoff step, n = failures - 1.
 */
export function decide(info: DisconnectInfo, failures: number, policy: Policy, random: () => number, now: number): Decision {
  if (!policy.shouldReconnect(info)) return { stop: `shouldReconnect() refused: ${describe(info)}` };
  if (failures >= policy.maxAttempts) return { stop: `${failures} attempts in a row failed (maxAttempts), the last: ${describe(info)}` };
  return { retryIn: retryDelay(info, failures, policy, random, now) };
}

/** The wait before the next attempt (see decide()). */
export function retryDelay(info: DisconnectInfo, failures: number, policy: Policy, random: () => number, now: number): number {
  if (info.kind === 'refused' && (info.status === 429 || info.status === 503)) {
    const told = parseRetryAfter(info.headers['retry-after'], now);
    // The server's time, plus up to minDelay so that clients it told the same time spread out.
    if (told !== undefined) return Math.min(policy.maxDelay, told + random() * policy.minDelay);
  }
  if (info.kind === 'closed' && (info.code === SERVICE_RESTART || info.code === TRY_AGAIN_LATER)) {
    // The registry's window, scaled down to fit under a maxDelay below 30 s (a plain cap would put
    // most draws at exactly maxDelay: every client of a restarted server back at the same moment).
    const high = Math.min(policy.maxDelay, RESTART_DELAY_MAX);
    const low = (high * RESTART_DELAY_MIN) / RESTART_DELAY_MAX;
    return low + random() * (high - low);
  }
  return backoffDelay(Math.max(0, failures - 1), policy, random);
}

/** One line for an error message. */
export function describe(info: DisconnectInfo): string {
  switch (info.kind) {
    case 'closed':
      return `the connection closed with ${info.code}${info.reason === '' ? '' : ` (${info.reason})`}`;
    case 'refused':
      return `the server answered ${info.status}`;
    case 'failed':
      return info.error.message;
  }
}
