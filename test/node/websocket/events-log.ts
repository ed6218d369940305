/** Records what a WebSocket fires, in order, and waits for its close event (never a timed wait). */

import type { CloseEvent, WebSocket } from '../../../src/index.js';
import { defer } from '../helpers.js';

export interface Logged {
  readonly type: string;
  readonly event: Event;
  /** readyState when the event was dispatched. */
  readonly readyState: number;
}

export interface EventLog {
  readonly events: Logged[];
  /** The event types, in order. */
  types(): string[];
  /** Resolves with the close event. */
  readonly closed: Promise<CloseEvent>;
  /** Resolves with the next event of this type (already fired ones included). */
  next(type: string, index?: number): Promise<Event>;
}

export function logEvents(ws: WebSocket): EventLog {
  const events: Logged[] = [];
  const waiters: Array<() => void> = [];
  let closed!: (event: CloseEvent) => void;
  const closedPromise = new Promise<CloseEvent>((resolve) => (closed = resolve));
  for (const type of ['open', 'message', 'error', 'close']) {
    ws.addEventListener(type, (event) => {
      events.push({ type, event, readyState: ws.readyState });
      for (const wake of waiters.splice(0)) wake();
      if (type === 'close') closed(event as CloseEvent);
    });
  }
  // A test that fails early must not leave a connection open.
  defer(() => {
    if (ws.readyState === ws.OPEN) ws.close();
  });
  return {
    events,
    types: () => events.map((logged) => logged.type),
    closed: closedPromise,
    next(type, index = 0) {
      return new Promise((resolve) => {
        const check = (): void => {
          const found = events.filter((logged) => logged.type === type)[index];
          if (found !== undefined) resolve(found.event);
          else waiters.push(check);
        };
        check();
      });
    },
  };
}
