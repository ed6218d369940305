/**
 * `/metrics`: Prometheus text through prom-client, one registry per chat server (several servers in
 * one process do not mix their counts). Connections, messages and bytes in and out, close codes,
 * handshakes refused by reason, rate-limit hits, drops by policy, event-loop lag and memory.
 */

import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { Counter, Gauge, Registry } from 'prom-client';

export class ChatMetrics {
  readonly registry = new Registry();
  private readonly connectionsOpened: Counter;
  private readonly connections: Gauge;
  private readonly messagesIn: Counter<'type'>;
  private readonly bytesIn: Counter;
  private readonly messagesOut: Counter;
  private readonly bytesOut: Counter;
  private readonly errors: Counter<'code'>;
  private readonly closes: Counter<'code'>;
  private readonly refused: Counter<'reason'>;
  private readonly rateLimits: Counter<'limit'>;
  private readonly drops: Counter<'reason'>;
  private readonly unavailableMessages: Counter<'type'>;
  private readonly unpublishedMessages: Counter<'type'>;
  private readonly lag: IntervalHistogram;

  /** `status()` says, at each scrape, whether the broker and presence are up. */
  constructor(status: () => { readonly broker: boolean; readonly presence: boolean } = () => ({ broker: true, presence: true })) {
    const registers = [this.registry];
    this.connectionsOpened = new Counter({ name: 'chat_connections_opened_total', help: 'WebSocket connections accepted.', registers });
    this.connections = new Gauge({ name: 'chat_connections', help: 'WebSocket connections open now.', registers });
    this.messagesIn = new Counter({
      name: 'chat_messages_received_total',
      help: 'Messages read from clients, by type (invalid: refused with an error message).',
      labelNames: ['type'],
      registers,
    });
    this.bytesIn = new Counter({ name: 'chat_received_bytes_total', help: 'Bytes of messages read from clients (payloads).', registers });
    this.messagesOut = new Counter({ name: 'chat_messages_sent_total', help: 'Messages written to clients (a broadcast counts once per recipient).', registers });
    this.bytesOut = new Counter({ name: 'chat_sent_bytes_total', help: 'Bytes of messages written to clients (payloads).', registers });
    this.errors = new Counter({ name: 'chat_errors_sent_total', help: 'error messages sent to clients, by code.', labelNames: ['code'], registers });
    this.closes = new Counter({ name: 'chat_closes_total', help: 'Connections closed, by close code.', labelNames: ['code'], registers });
    this.refused = new Counter({
      name: 'chat_handshakes_refused_total',
      help: 'Handshakes refused, by reason (invalid_request, unauthorized, or the library code).',
      labelNames: ['reason'],
      registers,
    });
    this.rateLimits = new Counter({
      name: 'chat_rate_limit_hits_total',
      help: 'Rate-limit hits: messages and bytes per connection (message dropped), handshakes and connections per address (429).',
      labelNames: ['limit'],
      registers,
    });
    this.drops = new Counter({ name: 'chat_dropped_total', help: 'Messages that did not reach a client, by reason.', labelNames: ['reason'], registers });
    this.unavailableMessages = new Counter({
      name: 'chat_unavailable_total',
      help: 'chat and notification messages the room history could not take (Redis unreachable, shutting down): answered with an unavailable error.',
      labelNames: ['type'],
      registers,
    });
    this.unpublishedMessages = new Counter({
      name: 'chat_unpublished_total',
      help: 'Messages this server published that could not reach the other servers, by envelope type.',
      labelNames: ['type'],
      registers,
    });
    new Gauge({
      name: 'chat_redis_up',
      help: 'Whether the part that goes through Redis is up (broker: rooms, presence), 1 or 0; always 1 without Redis.',
      labelNames: ['part'],
      registers,
      collect() {
        const now = status();
        this.set({ part: 'broker' }, now.broker ? 1 : 0);
        this.set({ part: 'presence' }, now.presence ? 1 : 0);
      },
    });
    new Gauge({
      name: 'chat_degraded',
      help: '1 while Redis is unreachable (local rooms only; /readyz says degraded), else 0.',
      registers,
      collect() {
        const now = status();
        this.set(now.broker && now.presence ? 0 : 1);
      },
    });
    const lag = (this.lag = monitorEventLoopDelay({ resolution: 20 }));
    lag.enable();
    new Gauge({
      name: 'chat_event_loop_lag_seconds',
      help: 'Event-loop delay since the last scrape (mean, p99, max).',
      labelNames: ['stat'],
      registers,
      collect() {
        const seconds = (ns: number): number => (Number.isFinite(ns) ? ns / 1e9 : 0);
        this.set({ stat: 'mean' }, seconds(lag.mean));
        this.set({ stat: 'p99' }, seconds(lag.percentile(99)));
        this.set({ stat: 'max' }, seconds(lag.max));
        lag.reset();
      },
    });
    new Gauge({
      name: 'chat_memory_bytes',
      help: 'Process memory (rss, heap_used).',
      labelNames: ['kind'],
      registers,
      collect() {
        const usage = process.memoryUsage();
        this.set({ kind: 'rss' }, usage.rss);
        this.set({ kind: 'heap_used' }, usage.heapUsed);
      },
    });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  opened(): void {
    this.connectionsOpened.inc();
    this.connections.inc();
  }

  closed(code: number): void {
    this.connections.dec();
    this.closes.inc({ code: String(code) });
  }

  received(type: string, bytes: number): void {
    this.messagesIn.inc({ type });
    this.bytesIn.inc(bytes);
  }

  sent(bytes: number): void {
    this.messagesOut.inc();
    this.bytesOut.inc(bytes);
  }

  error(code: string): void {
    this.errors.inc({ code });
  }

  handshakeRefused(reason: string): void {
    this.refused.inc({ reason });
  }

  rateLimited(limit: 'messages' | 'bytes' | 'handshakes' | 'connections'): void {
    this.rateLimits.inc({ limit });
  }

  dropped(reason: string): void {
    this.drops.inc({ reason });
  }

  unavailable(type: string): void {
    this.unavailableMessages.inc({ type });
  }

  unpublished(type: string): void {
    this.unpublishedMessages.inc({ type });
  }

  close(): void {
    this.lag.disable();
  }
}
