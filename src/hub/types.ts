/**
 * The hub's public types (issue 11). The hub depends on a connection only through
 * `HubConnection`, the part of the connection API it needs; `Ws` implements it structurally. The
 * vocabulary it shares with the connection (ReadyState, CloseResult, DeflateAgreement,
 * BinaryData) is rfc6455's.
 */

import type { CloseResult, ReadyState } from '../protocol/connection.js';
import type { DeflateAgreement } from '../protocol/permessage-deflate.js';
import type { PreparedFrame } from '../protocol/prepared.js';
import type { BinaryData } from '../node/send-arguments.js';
import type { BrokerState, HistoryOptions, StreamPosition } from './broker.js';

/** What the hub needs from a connection. */
export interface HubConnection {
  /** The hub writes only while it is 'open': a message for a connection closing or closed is dropped ('closed'). */
  readonly readyState: ReadyState;
  /** Bytes accepted for sending that the kernel has not taken yet; includes a frame as soon as sendPrepared() returns. */
  readonly bufferedAmount: number;
  /** The permessage-deflate the connection agreed, or null when it agreed none. */
  readonly deflateAgreement: DeflateAgreement | null;
  /** Settles (never rejects) once the connection is gone. */
  readonly closed: Promise<CloseResult>;
  /**
   * Writes a frame built once for many connections, in order with the connection's other sends.
   * Resolves when the kernel has the bytes; rejects with WS_ERR_CLOSED if the connection closed
   * first. A compressed frame needs permessage-deflate with ourMaxWindowBits >= its deflateWindowBits.
   */
  sendPrepared(frame: PreparedFrame): Promise<void>;
  /**
   * Sends a message through the connection's own path, compressed with its own context when it
   * keeps context takeover; bytes go as text with `{ text: true }` (they are UTF-8), as binary
   * otherwise. In order with sendPrepared(). Resolves when the kernel has the frame; rejects if
   * the connection closed first.
   */
  send(data: string | Uint8Array, options?: { readonly text?: boolean }): Promise<void>;
  /**
   * Optional, with `writtenBatches`: the write without a promise that Ws has (Ws.sendNumbered):
   * sendPrepared(), or send() of `payload` when `frame` is null, returning the number of the batch
   * of writes it joined, or 0 when the connection refused it. Numbers grow with each batch. With
   * both, a delivery costs the hub no promise; a connection that wraps a Ws forwards both to it.
   */
  sendNumbered?(frame: PreparedFrame | null, payload: Uint8Array, isText: boolean): number;
  /**
   * With sendNumbered: the number of the latest batch the kernel took, and every batch before it.
   * A frame whose batch is above it once the connection is gone was lost.
   */
  readonly writtenBatches?: number;
  /** Resolves when bufferedAmount drops to 0; rejects with WS_ERR_CLOSED if the connection closes first. */
  drain(): Promise<void>;
  /** Starts the closing handshake: the hub calls it with 1008 "too slow" when a policy evicts the connection. */
  close(code?: number, reason?: string): Promise<unknown>;
}

/**
 * What happens to a message for a subscriber whose queue in the hub is full (issue 11):
 * - 'close': close the connection with 1008 "too slow" (the default);
 * - 'drop-new': drop the new message for that subscriber;
 * - 'drop-oldest': drop this topic's oldest queued messages until the new one fits;
 * - 'conflate': keep only the latest message per key: a queued message of the topic is replaced
 *   by a newer one with the same key whenever the subscriber is behind; one that still does not
 *   fit closes the connection, since dropping it would lose a key's latest value.
 */
export type OverflowPolicy = 'close' | 'drop-new' | 'drop-oldest' | 'conflate';

/** Why a message did not reach a connection. */
export type DropReason =
  /** The queue was full and the policy dropped this message ('drop-new', or 'drop-oldest' when older ones could not make room). */
  | 'drop-new'
  /** The policy dropped this queued message to make room for a newer one of the same topic. */
  | 'drop-oldest'
  /** A newer message with the same key replaced this queued one. */
  | 'conflate'
  /** The policy closed the connection (1008 "too slow"): the message that overflowed and every one still queued. */
  | 'evicted'
  /** The connection was closing or closed before the message could be written, or closed before the kernel took it. */
  | 'closed';

/** What one publish() did, counted over this node's subscribers. */
export interface PublishResult {
  /** Subscribers the message was for (the topic's members, minus `except`). */
  readonly recipients: number;
  /** Written to the connection, or held in the hub's queue for it. */
  readonly queued: number;
  /** Dropped for that subscriber: its queue was full, or its connection was closing. */
  readonly dropped: number;
  /** Closed by the topic's policy because of this message. */
  readonly closed: number;
}

/** What one Hub.send() did. */
export type HubSendResult = 'queued' | 'dropped' | 'closed';

/** Options of one Hub.publish(). */
export interface PublishOptions<C> {
  /** A subscriber that does not get the message (typically its sender). */
  readonly except?: C | undefined;
  /** The conflation key ('conflate' topics): a newer message with the same key replaces a queued one. */
  readonly key?: string | undefined;
}

/** Options of one Hub.append(). */
export interface AppendOptions<C> extends PublishOptions<C> {
  /** How much of the topic's stream is kept. Default: the hub's `history` option. */
  readonly history?: Partial<HistoryOptions> | undefined;
  /**
   * A second append to the topic with the same key, while the first is still kept, appends
   * nothing and resolves with the first one's position (`duplicate: true`).
   */
  readonly idempotencyKey?: string | undefined;
}

/** What Hub.recover() did for a connection. */
export interface RecoveryResult {
  /** Every message after `since` was sent to the connection (false: some are gone; it should reload). */
  readonly recovered: boolean;
  /** How many messages were sent from the history. */
  readonly missed: number;
  /** The stream's position once they were sent. */
  readonly position: StreamPosition;
}

/** Options of one Hub.recover(). */
export interface RecoverOptions {
  /** The most messages sent from the history; more than that is not recovered. Default: the hub's `history.size`. */
  readonly limit?: number | undefined;
  /** A message sent to the connection right after the recovered ones, before any live one (e.g. "you are up to date"). */
  readonly notice?: ((result: RecoveryResult) => string | BinaryData | undefined) | undefined;
}

/** A broker state change. */
export interface HubBrokerEvent {
  /** The broker's new state: 'down' while it cannot carry messages to other hubs, 'up' again after. */
  readonly state: BrokerState;
}

/** A publish() the broker could not carry to other hubs (local subscribers got it). */
export interface HubUnpublishedEvent {
  /** The topic it was published to. */
  readonly topic: string;
  /** The message as published, uncompressed: UTF-8 bytes when `isText`. Read it, do not modify it. */
  readonly payload: Uint8Array;
  /** Whether it was a text message. */
  readonly isText: boolean;
  /** Why the broker could not carry it (a Redis engine that lost Redis, say). */
  readonly error: Error;
}

/** Stream messages this hub's subscribers will never get: the history no longer had them, or the broker failed. */
export interface HubLostEvent {
  /** The topic whose stream has the gap. */
  readonly topic: string;
  /** The first offset lost, in the topic's current epoch. */
  readonly from: number;
  /** The last offset lost, in the topic's current epoch. */
  readonly to: number;
  /** The broker's error when reading the history failed; null when the history no longer held them. */
  readonly error: Error | null;
}

/** Options of one Hub.send(). */
export interface HubSendOptions {
  /** The conflation key, when the hub's sendPolicy is 'conflate'. */
  readonly key?: string | undefined;
}

/** Options of one topic. */
export interface TopicOptions {
  /**
   * What to do when a subscriber's queue is full.
   * @defaultValue the hub's `topic.policy` ('close')
   */
  readonly policy?: OverflowPolicy;
  /**
   * One fresh-context compressed frame per window size serves every subscriber, also those whose
   * connection keeps context takeover (they reset their compressor after it). Without it, those
   * connections compress each broadcast with their own context. See Hub for the trade.
   * @defaultValue false
   */
  readonly noContextTakeover?: boolean;
}

/** A message that did not reach a connection: one event per message and connection. */
export interface HubDropEvent<C> {
  /** The topic it was published to; null for Hub.send(). */
  readonly topic: string | null;
  /** The connection that did not get it. */
  readonly connection: C;
  /** Why: the policy ('drop-new', 'drop-oldest', 'conflate', 'evicted'), or 'closed'. */
  readonly reason: DropReason;
  /** The size of its frame: compressed if it was compressed once for many; uncompressed for a connection that compresses it itself. */
  readonly bytes: number;
  /** The conflation key it was published or sent with, if any. */
  readonly key: string | undefined;
  /** The message as published, uncompressed: UTF-8 bytes when `isText`. Shared with the frames of other recipients: read it, do not modify it. */
  readonly payload: Uint8Array;
  /** Whether it was a text message. */
  readonly isText: boolean;
}

/** A connection the policy closed with 1008 "too slow". */
export interface HubEvictEvent<C> {
  /** The topic whose message overflowed the queue; null for Hub.send(). */
  readonly topic: string | null;
  /** The connection closed (its `close(1008, 'too slow')` was called); it leaves the hub once closed. */
  readonly connection: C;
  /** Bytes that were held in the hub's queue for it (they are reported as drops too). */
  readonly queuedBytes: number;
}

/** The hub's events, by name, with what each listener gets (Hub.on()). */
export interface HubEvents<C> {
  /** A message did not reach a connection: one event per message and connection. */
  drop: HubDropEvent<C>;
  /** A topic's policy (or sendPolicy) closed a connection with 1008 "too slow". */
  evict: HubEvictEvent<C>;
  /** The broker's state changed. */
  broker: HubBrokerEvent;
  /** A publish() the broker could not carry to the other hubs (this hub's subscribers got it). */
  unpublished: HubUnpublishedEvent;
  /** Stream messages (append()) this hub's subscribers will never get. */
  lost: HubLostEvent;
}

/** Counters of one topic, kept as long as the topic has subscribers or options. */
export interface TopicStats {
  /** Connections subscribed to the topic on this hub now. */
  readonly subscribers: number;
  /** publish() calls on this node. */
  readonly published: number;
  /** Messages of this topic that did not reach a subscriber (every drop event). */
  readonly dropped: number;
  /** Subscribers this topic's policy closed. */
  readonly evicted: number;
}
