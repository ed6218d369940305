/**
 * Who is subscribed to what: topics with their members, options and counters, and each
 * connection's topics. It tells its owner when a topic gets its first member and loses its last,
 * which is when the broker subscribes and unsubscribes (issue 11: a node subscribes only to the
 * topics it has members in).
 */

import { resolveTopicOptions, type ResolvedTopicOptions } from './options.js';
import type { TopicOptions, TopicStats } from './types.js';

export interface TopicEntry<C> {
  readonly name: string;
  readonly members: Set<C>;
  options: ResolvedTopicOptions;
  /** Set by configure(): the entry (options, counters) outlives its members. */
  configured: boolean;
  published: number;
  dropped: number;
  evicted: number;
}

export interface TopicRegistryEvents {
  /** The topic has its first member. */
  first(topic: string): void;
  /** The topic lost its last member. */
  last(topic: string): void;
}

const NO_TOPICS: ReadonlySet<string> = new Set();
const NO_MEMBERS: ReadonlySet<never> = new Set();

export class TopicRegistry<C> {
  private readonly topics = new Map<string, TopicEntry<C>>();
  private readonly memberships = new Map<C, Set<string>>();
  private readonly defaults: ResolvedTopicOptions;
  private readonly events: TopicRegistryEvents;

  constructor(defaults: ResolvedTopicOptions, events: TopicRegistryEvents) {
    this.defaults = defaults;
    this.events = events;
  }

  get(topic: string): TopicEntry<C> | undefined {
    return this.topics.get(topic);
  }

  /** Sets a topic's options (merged over the hub's defaults); undefined forgets them. */
  configure(topic: string, options: TopicOptions | undefined): void {
    if (options === undefined) {
      const entry = this.topics.get(topic);
      if (entry === undefined) return;
      entry.options = this.defaults;
      entry.configured = false;
      if (entry.members.size === 0) this.topics.delete(topic);
      return;
    }
    const resolved = resolveTopicOptions(`options of topic ${JSON.stringify(topic)}`, options, this.defaults);
    const entry = this.entry(topic);
    entry.options = resolved;
    entry.configured = true;
  }

  /** Adds a member; false if it was one already. */
  join(connection: C, topic: string): boolean {
    let topics = this.memberships.get(connection);
    if (topics?.has(topic)) return false;
    if (topics === undefined) this.memberships.set(connection, (topics = new Set()));
    topics.add(topic);
    const entry = this.entry(topic);
    entry.members.add(connection);
    if (entry.members.size === 1) this.events.first(topic);
    return true;
  }

  /** Removes a member; false if it was not one. */
  leave(connection: C, topic: string): boolean {
    const topics = this.memberships.get(connection);
    if (topics === undefined || !topics.delete(topic)) return false;
    if (topics.size === 0) this.memberships.delete(connection);
    this.removeMember(connection, topic);
    return true;
  }

  /** Removes a connection from every topic it is in. */
  leaveAll(connection: C): void {
    const topics = this.memberships.get(connection);
    if (topics === undefined) return;
    this.memberships.delete(connection);
    for (const topic of topics) this.removeMember(connection, topic);
  }

  topicsOf(connection: C): ReadonlySet<string> {
    return this.memberships.get(connection) ?? NO_TOPICS;
  }

  members(topic: string): ReadonlySet<C> {
    return this.topics.get(topic)?.members ?? NO_MEMBERS;
  }

  /** Topics with at least one member. */
  *names(): IterableIterator<string> {
    for (const [name, entry] of this.topics) if (entry.members.size > 0) yield name;
  }

  stats(topic: string): TopicStats | undefined {
    const entry = this.topics.get(topic);
    if (entry === undefined) return undefined;
    return {
      subscribers: entry.members.size,
      published: entry.published,
      dropped: entry.dropped,
      evicted: entry.evicted,
    };
  }

  private entry(topic: string): TopicEntry<C> {
    let entry = this.topics.get(topic);
    if (entry === undefined) {
      entry = {
        name: topic,
        members: new Set(),
        options: this.defaults,
        configured: false,
        published: 0,
        dropped: 0,
        evicted: 0,
      };
      this.topics.set(topic, entry);
    }
    return entry;
  }

  private removeMember(connection: C, topic: string): void {
    const entry = this.topics.get(topic);
    if (entry === undefined || !entry.members.delete(connection)) return;
    if (entry.members.size > 0) return;
    // The counters of a topic nobody configured go with its last member; drops reported later
    // (a queue discarded on close) still reach the 'drop' event.
    if (!entry.configured) this.topics.delete(topic);
    this.events.last(topic);
  }
}
