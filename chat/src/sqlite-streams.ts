/**
 * Rooms' history in SQLite (`--history sqlite:./chat.db`, through better-sqlite3): a `StreamStore`
 * of `rfc6455/hub` (where an in-process bus keeps its topics' streams), so that a client's position
 * (`<epoch>-<offset>`) still means the same after the server restarts, and recovery works across
 * it. Delivery is the hub's own InProcessBus's: the hubs of one process share a SqliteBus (one
 * file, one process; several processes need the Redis engine of issue 16).
 *
 * Each append is one transaction: the stream's next offset, the message, the idempotency key and
 * the trim of what the history no longer keeps. The epoch of a stream is stored with it; it
 * changes only when the stream is forgotten (its TTL passed), never on a restart. The file is in
 * WAL mode with synchronous=NORMAL: a commit is not an fsync (a power cut may lose the last
 * messages, never corrupt the file); close() checkpoints it.
 */

import Database from 'better-sqlite3';
import {
  InProcessBus,
  type BrokerAppendOptions,
  type BrokerMessage,
  type HistoryPage,
  type InProcessBroker,
  type StreamPosition,
  type StoredAppend,
  type StreamStore,
} from 'rfc6455/hub';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS streams (
  topic TEXT PRIMARY KEY,
  epoch TEXT NOT NULL,
  last_offset INTEGER NOT NULL,
  expires_at INTEGER
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS messages (
  topic TEXT NOT NULL,
  offset INTEGER NOT NULL,
  payload BLOB NOT NULL,
  opcode INTEGER NOT NULL,
  conflation_key TEXT,
  except_id TEXT,
  idempotency_key TEXT,
  PRIMARY KEY (topic, offset)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS messages_idempotency ON messages (topic, idempotency_key) WHERE idempotency_key IS NOT NULL;
`;

interface StreamRow {
  readonly epoch: string;
  readonly last_offset: number;
  readonly expires_at: number | null;
}

interface MessageRow {
  readonly offset: number;
  readonly payload: Buffer;
  readonly opcode: number;
  readonly conflation_key: string | null;
  readonly except_id: string | null;
}

/** A new epoch: 8 letters and digits from a strong source (as the hub's own streams). */
function newEpoch(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let epoch = '';
  for (const byte of crypto.getRandomValues(new Uint8Array(8))) epoch += alphabet[byte % alphabet.length];
  return epoch;
}

/** The streams in one database file (`:memory:` for a throwaway one). */
export class SqliteStreams implements StreamStore {
  private readonly db: Database.Database;
  private readonly statements;
  private isClosed = false;

  /** Opens (or creates) the database at `file`. */
  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(SCHEMA);
    this.statements = {
      stream: this.db.prepare<[string], StreamRow>('SELECT epoch, last_offset, expires_at FROM streams WHERE topic = ?'),
      putStream: this.db.prepare('INSERT OR REPLACE INTO streams (topic, epoch, last_offset, expires_at) VALUES (?, ?, ?, ?)'),
      dropMessages: this.db.prepare('DELETE FROM messages WHERE topic = ?'),
      findKey: this.db.prepare<[string, string], { offset: number }>('SELECT offset FROM messages WHERE topic = ? AND idempotency_key = ?'),
      insert: this.db.prepare(
        'INSERT INTO messages (topic, offset, payload, opcode, conflation_key, except_id, idempotency_key) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      trim: this.db.prepare('DELETE FROM messages WHERE topic = ? AND offset <= ?'),
      range: this.db.prepare<[string, number, number], MessageRow>(
        'SELECT offset, payload, opcode, conflation_key, except_id FROM messages WHERE topic = ? AND offset > ? ORDER BY offset LIMIT ?',
      ),
      first: this.db.prepare<[string], { offset: number | null }>('SELECT MIN(offset) AS offset FROM messages WHERE topic = ?'),
    };
  }

  /** Closes the database (a checkpoint of the WAL: everything appended is in the file); appends then fail. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.db.close();
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Appends in one transaction; returns the stored message with its position (StreamStore). */
  append(message: BrokerMessage, options: BrokerAppendOptions): StoredAppend {
    return this.db.transaction(() => {
      const now = Date.now();
      const stream = this.liveStream(message.topic, now);
      const key = options.idempotencyKey;
      if (key !== undefined) {
        const earlier = this.statements.findKey.get(message.topic, key);
        if (earlier !== undefined) return { position: { epoch: stream.epoch, offset: earlier.offset }, duplicate: true, message };
      }
      const offset = stream.last_offset + 1;
      const { size, ttl } = options.history;
      this.statements.insert.run(message.topic, offset, Buffer.from(message.payload), message.opcode, message.key ?? null, message.except ?? null, key ?? null);
      this.statements.trim.run(message.topic, offset - Math.max(0, size));
      this.statements.putStream.run(message.topic, stream.epoch, offset, ttl > 0 ? now + ttl : null);
      const position: StreamPosition = { epoch: stream.epoch, offset };
      return { position, duplicate: false, message: { ...message, position } };
    })();
  }

  /** See Broker.history (StreamStore). */
  history(topic: string, since: StreamPosition | undefined, limit: number): HistoryPage {
    return this.db.transaction(() => {
      const stream = this.liveStream(topic, Date.now());
      const position: StreamPosition = { epoch: stream.epoch, offset: stream.last_offset };
      const firstKept = this.statements.first.get(topic)?.offset ?? stream.last_offset + 1;
      let complete = true;
      let after = firstKept - 1;
      if (since !== undefined) {
        if (since.epoch !== stream.epoch || since.offset > stream.last_offset) return { messages: [], position, complete: false };
        if (since.offset + 1 < firstKept) complete = false;
        after = Math.max(after, since.offset);
      }
      const rows = limit > 0 ? this.statements.range.all(topic, after, limit) : [];
      const messages = rows.map((row) => toMessage(topic, stream.epoch, row));
      if (after + messages.length < stream.last_offset) complete = false;
      return { messages, position, complete };
    })();
  }

  /** The topic's stream, started anew (new epoch, offset 0, nothing kept) if it has none or its TTL passed. */
  private liveStream(topic: string, now: number): StreamRow {
    const stream = this.statements.stream.get(topic);
    if (stream !== undefined && (stream.expires_at === null || stream.expires_at > now)) return stream;
    const fresh: StreamRow = { epoch: newEpoch(), last_offset: 0, expires_at: null };
    this.statements.dropMessages.run(topic);
    this.statements.putStream.run(topic, fresh.epoch, 0, null);
    return fresh;
  }
}

function toMessage(topic: string, epoch: string, row: MessageRow): BrokerMessage {
  return {
    topic,
    payload: new Uint8Array(row.payload.buffer, row.payload.byteOffset, row.payload.byteLength),
    opcode: row.opcode === 0x2 ? 0x2 : 0x1,
    key: row.conflation_key ?? undefined,
    except: row.except_id ?? undefined,
    position: { epoch, offset: row.offset },
  };
}

/**
 * The hubs of one process on one database file: an InProcessBus of the hub whose streams are
 * SqliteStreams. `broker()` gives each hub its own broker.
 */
export class SqliteBus {
  readonly streams: SqliteStreams;
  private readonly bus: InProcessBus;

  constructor(file: string) {
    this.streams = new SqliteStreams(file);
    this.bus = new InProcessBus({ streams: this.streams });
  }

  /** A broker for one more hub on this file. */
  broker(): InProcessBroker {
    return this.bus.broker();
  }

  /** Closes the database; brokers still open then reject appends and reads with WS_ERR_UNAVAILABLE. */
  close(): void {
    this.streams.close();
  }

  get closed(): boolean {
    return this.streams.closed;
  }
}
