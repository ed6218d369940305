/** Messages between bench/run.ts and its children (the servers and the load generator). */

/**
 * 'h2': ours, its WebSockets over HTTP/2 (RFC 8441) streams of one session, against 'ours' over TCP.
 * 'single', 'memory' and 'socketio-redis' are the peers of the several-instance cases (issue 16):
 * ours in one process (against ours with --workers 2), the chat in one instance without Redis
 * (against two through Redis), Socket.IO with @socket.io/redis-adapter on the same Redis.
 */
export type ServerKind = 'ours' | 'ws' | 'raw' | 'socketio' | 'h2' | 'single' | 'memory' | 'socketio-redis';

export interface CpuSample {
  /** process.cpuUsage(): user and system microseconds, every thread of the process. */
  readonly user: number;
  readonly system: number;
  /** performance.now() in the server, ms: CPU% is computed with the server's own clock. */
  readonly at: number;
  /** Write system calls so far (Linux: syscw of /proc/self/io), to tell how much each write carries. */
  readonly writes?: number;
  /** A server of several processes (workers): user + system microseconds of them all, in place of user and system. */
  readonly tree?: number;
  /** A server on Redis: redis-server's CPU so far (INFO cpu, user + system, µs) and the commands it processed (INFO stats). */
  readonly redisCpuUs?: number;
  readonly redisCommands?: number;
}

export interface MemorySample {
  readonly rss: number;
  readonly heapUsed: number;
  readonly heapTotal: number;
  readonly external: number;
  readonly arrayBuffers: number;
}

/** run.ts -> server */
export type ToServer =
  | { readonly type: 'cpu'; readonly id: number }
  | { readonly type: 'measure'; readonly id: number }
  | { readonly type: 'stats'; readonly id: number }
  /** A heap snapshot written to `path` (v8.writeHeapSnapshot, after a full GC): bench/idle-heap.ts. */
  | { readonly type: 'snapshot'; readonly id: number; readonly path: string };

/** server -> run.ts */
export type FromServer =
  | { readonly type: 'ready'; readonly port: number; readonly info: Record<string, string | boolean> }
  | { readonly type: 'cpu'; readonly id: number; readonly cpu: CpuSample }
  | { readonly type: 'measure'; readonly id: number; readonly memory: MemorySample; readonly cpu: CpuSample }
  | { readonly type: 'stats'; readonly id: number; readonly connections: number }
  | { readonly type: 'snapshot'; readonly id: number; readonly path: string };

interface CommonSpec {
  readonly host: string;
  readonly port: number;
  /**
   * 'raw': no handshake, the server echoes bytes. 'socketio': Socket.IO 5 over Engine.IO 4's
   * websocket transport (the chat mode only); for the chat mode 'ws' is the chat's own protocol.
   */
  readonly protocol: 'ws' | 'raw' | 'socketio';
}

export interface EchoSpec extends CommonSpec {
  readonly mode: 'echo';
  readonly connections: number;
  readonly inflight: number;
  /** Payload bytes of each message (before compression). */
  readonly size: number;
  readonly opcode: 'text' | 'binary';
  /** Offer permessage-deflate and send pre-compressed messages (text: JSON-like). */
  readonly deflate: boolean;
  readonly warmupMs: number;
  readonly durationMs: number;
}

export interface HandshakeSpec extends CommonSpec {
  readonly mode: 'handshake';
  readonly loops: number;
  readonly warmupMs: number;
  readonly durationMs: number;
}

export interface IdleSpec extends CommonSpec {
  readonly mode: 'idle';
  readonly connections: number;
  /** Handshake + close cycles before the baseline. */
  readonly warmupHandshakes: number;
  /** Handshakes in progress at once while connecting. */
  readonly parallel: number;
}

export interface FanoutSpec extends CommonSpec {
  readonly mode: 'fanout';
  /** Idle connections the server sends every message to (the publisher is not one of them). */
  readonly subscribers: number;
  /** Messages the publisher keeps in flight: one more each time one has reached every subscriber. */
  readonly inflight: number;
  /** Payload bytes of each message (before compression); text. */
  readonly size: number;
  /** Subscribers offer permessage-deflate as Chromium does (context takeover); the text is JSON-like. */
  readonly deflate: boolean;
  /** Handshakes in progress at once while connecting the subscribers. */
  readonly parallel: number;
  readonly warmupMs: number;
  readonly durationMs: number;
}

export interface ChatSpec extends CommonSpec {
  readonly mode: 'chat';
  /** Connections, one per user; user i is in room i mod `rooms`. */
  readonly users: number;
  readonly rooms: number;
  /**
   * Chat messages per second per user, one step each, in order: a warm-up and a measurement window
   * per step. With `p99BoundMs`, the run stops at the first step whose p99 exceeds it (the rate
   * search); without, every step runs.
   */
  readonly rates: readonly number[];
  readonly p99BoundMs: number | null;
  /** Characters of each message's `content` (its send time and sender included). */
  readonly contentSize: number;
  /** Handshakes (and joins) in progress at once while connecting the users. */
  readonly parallel: number;
  /** Connect, join, send one message, read it back, close: cycles before the server's baseline. */
  readonly warmupCycles: number;
  /**
   * Whether the harness measures the server's memory ('baseline' and 'opened' steps), and then
   * how the generator settles the server before the first step: `settleMs` of messages at
   * `settleRate` per user, in no window. The measurement forces full collections, which throw away
   * optimized code of the delivery path ("weak objects"); the settle lets it be compiled again, at
   * a rate every server holds, so the first window measures the server and not the measurement
   * (bench/README.md, "The chat's first step"). Null where the case reports no memory.
   */
  readonly memory: { readonly settleRate: number; readonly settleMs: number } | null;
  /** Per step. */
  readonly warmupMs: number;
  readonly durationMs: number;
}

export type LoadSpec = EchoSpec | HandshakeSpec | IdleSpec | FanoutSpec | ChatSpec;

export interface EchoResult {
  readonly mode: 'echo';
  readonly windowMs: number;
  readonly messages: number;
  readonly messagesPerSec: number;
  /** Payload megabytes (10^6 bytes, uncompressed size) echoed per second. */
  readonly mbPerSec: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly maxUs: number;
  /** The generator's CPU over the window, % of one core. */
  readonly generatorCpu: number;
  /** Echoes checked byte for byte (after inflating them for permessage-deflate). */
  readonly verified: number;
  /** Echoes with RSV1 set (compressed), over the whole run. */
  readonly compressedEchoes: number;
  readonly extensions: string | null;
}

export interface HandshakeResult {
  readonly mode: 'handshake';
  readonly windowMs: number;
  readonly handshakes: number;
  readonly handshakesPerSec: number;
  /** One connect + handshake + close cycle. */
  readonly p50Us: number;
  readonly p99Us: number;
  readonly generatorCpu: number;
}

export interface IdleResult {
  readonly mode: 'idle';
  readonly opened: number;
  readonly openMs: number;
}

export interface FanoutResult {
  readonly mode: 'fanout';
  readonly windowMs: number;
  readonly subscribers: number;
  /** Messages that reached every subscriber within the window. */
  readonly messages: number;
  readonly messagesPerSec: number;
  /** Messages received by subscribers within the window, all subscribers together. */
  readonly deliveries: number;
  readonly deliveriesPerSec: number;
  /** Payload megabytes (10^6 bytes, uncompressed size) delivered per second. */
  readonly mbPerSec: number;
  /** From the publisher's write to the last subscriber's read of that message. */
  readonly p50Us: number;
  readonly p99Us: number;
  readonly maxUs: number;
  readonly generatorCpu: number;
  /** Subscribers whose first message was checked byte for byte (inflated when compressed). */
  readonly verified: number;
  /** Deliveries with RSV1 set, over the whole run. */
  readonly compressedDeliveries: number;
  /** The Sec-WebSocket-Extensions answers the subscribers got, with how many got each. */
  readonly extensions: Record<string, number>;
  /** Milliseconds to connect every subscriber. */
  readonly connectMs: number;
}

/** One rate of a chat run: its measurement window. */
export interface ChatStep {
  /** Messages per second per user. */
  readonly rate: number;
  readonly windowMs: number;
  /** Messages the users sent within the window. */
  readonly sent: number;
  /** Chat messages read by users other than their sender within the window (acknowledgments not counted). */
  readonly deliveries: number;
  readonly deliveriesPerSec: number;
  /** From the sender's write to the receiver's read, over the deliveries of the window. */
  readonly p50Us: number;
  readonly p99Us: number;
  readonly maxUs: number;
  /** How late the generator wrote messages against their even schedule (its own delay), p99. */
  readonly lateP99Us: number;
  readonly generatorCpu: number;
  /** p99 within the bound (always true without one). */
  readonly sustained: boolean;
}

export interface ChatResult {
  readonly mode: 'chat';
  readonly users: number;
  readonly rooms: number;
  /** Every step run, in order; the last one is where a rate search stopped. */
  readonly steps: readonly ChatStep[];
  /**
   * The step the figures are of: the last sustained one (the last one without a bound), -1 when
   * not even the first was. Its window is the one whose server CPU the harness reports.
   */
  readonly windowStep: number;
  /** The reported step's figures (NaN when none). */
  readonly rate: number;
  readonly deliveriesPerSec: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly generatorCpu: number;
  /** Messages every user got back as their sender (acknowledgments), over the whole run. */
  readonly acknowledgments: number;
  /** Chat messages read by other users, over the whole run. */
  readonly deliveries: number;
  /** Milliseconds to connect and join every user. */
  readonly connectMs: number;
  /** The generator's CPU per delivery in the reported window, µs (its own cost: the limit it puts on a run). */
  readonly generatorUsPerDelivery: number;
}

export type LoadResult = EchoResult | HandshakeResult | IdleResult | FanoutResult | ChatResult;

/** generator -> run.ts */
export type FromGenerator =
  | { readonly type: 'ready' }
  /**
   * The measurement window starts or ends now: sample the server's CPU. Needs no answer. `step`:
   * which window, for a run of several (the chat's rates); 0 when absent.
   */
  | { readonly type: 'mark'; readonly phase: 'start' | 'end'; readonly step?: number }
  /**
   * A step: the generator waits for { type: 'continue' } before going on. 'baseline' and 'opened'
   * (idle and chat cases): the server's memory is measured; 'subscribed' (fan-out): once the server
   * holds `connections` subscribers.
   */
  | { readonly type: 'phase'; readonly name: 'baseline' | 'opened' | 'subscribed'; readonly connections: number }
  | { readonly type: 'result'; readonly result: LoadResult }
  | { readonly type: 'error'; readonly message: string };

/** run.ts -> generator */
export type ToGenerator = { readonly type: 'run'; readonly spec: LoadSpec } | { readonly type: 'continue' };
