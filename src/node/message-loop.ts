/**
 * Ws.forEach(): a connection's messages handed to one function, in order, one at a time, until
 * the connection closes. What `for await (const message of ws) await handler(message)` does, without
 * what that loop costs per message: a promise per read, and a suspended async function that keeps
 * the last message, the handler's frame and its promise alive until the next message comes. At a
 * message a second per connection those live long enough to reach V8's old generation, and a chat
 * of 1,000 users spent full collections on them every few seconds (issue 15: p99 at low rates).
 * Here a connection waiting for a message holds this object, nothing per message.
 */

import type { Inbox, Listener, Message } from './inbox.js';
import { isPromiseLike } from './util.js';

/** What forEach() calls: a promise it returns (any thenable) holds the next message back until it settles. */
export type MessageHandler = (message: Message) => void | PromiseLike<void>;

export class MessageLoop implements Listener {
  private readonly inbox: Inbox;
  private readonly handler: MessageHandler;
  private readonly resolve: () => void;
  private readonly reject: (error: unknown) => void;
  /** The message given, until the microtask that calls the handler with it. */
  private message: Message | null = null;
  /**
   * The next step, one function for both uses (memory per connection): with a message given,
   * call the handler (a microtask); without, listen again (the handler's promise fulfilled).
   */
  private readonly step = (): void => {
    if (this.message === null) this.inbox.listen(this);
    else this.call();
  };
  /** The handler's promise rejected; made with the first promise (a synchronous handler never needs it). */
  private onRejected: ((error: unknown) => void) | null = null;

  constructor(inbox: Inbox, handler: MessageHandler, resolve: () => void, reject: (error: unknown) => void) {
    this.inbox = inbox;
    this.handler = handler;
    this.resolve = resolve;
    this.reject = reject;
  }

  start(): void {
    this.inbox.listen(this);
  }

  /** Listener: the inbox gives the next message. */
  onMessage(message: Message): void {
    // The handler runs in a microtask, as a for-await loop's body does: never inside the parser
    // that is still reading the rest of the chunk this message came in.
    this.message = message;
    queueMicrotask(this.step);
  }

  /** Listener: every message before the end was given. */
  onEnd(): void {
    this.inbox.unlisten();
    this.resolve();
  }

  private call(): void {
    const message = this.message!;
    this.message = null;
    let result;
    try {
      result = this.handler(message);
    } catch (error) {
      return this.fail(error);
    }
    // Promise.resolve() returns a native promise as it is, and adopts any other thenable the way
    // `await` does: one whose then() throws rejects, one that calls back twice settles once.
    if (isPromiseLike(result)) void Promise.resolve(result).then(this.step, (this.onRejected ??= (error) => this.fail(error)));
    else this.inbox.listen(this);
  }

  /** The handler threw: forEach() rejects with it, and reading stops; the connection stays open. */
  private fail(error: unknown): void {
    this.inbox.unlisten();
    this.reject(error);
  }
}
