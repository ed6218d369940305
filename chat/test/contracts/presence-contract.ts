/**
 * The Presence contract (chat/src/presence.ts), as one suite every implementation runs:
 * MemoryPresence here, the Redis one of issue 16 next. A system is `nodes` presences of one shared
 * store (two chat servers behind one load balancer); everything is observed through what they
 * announce and answer, never through an implementation's insides.
 *
 * The grace period runs on fake timers (setTimeout and clearTimeout only: sockets to a real store
 * stay real): a leave is announced exactly when the grace period has passed, never before. A grace
 * period's end may need a round trip to the store (Redis): `settled()` waits for the work the
 * presences' timers started, after each move of the clock.
 */

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Presence, PresenceChange } from '../../src/presence.js';

export interface PresenceSystem {
  readonly presences: readonly Presence[];
  /** Resolves once the work the presences started (a timer's round trip to the store) is done. Default: at once. */
  settled?(): Promise<void>;
  /** Stops everything the system started. */
  close(): Promise<void>;
}

/** Makes a fresh system of `nodes` presences sharing one store, with a grace period of `grace` ms (rooms do not collide with an earlier system's). */
export type MakePresence = (nodes: number, grace: number) => Promise<PresenceSystem>;

const GRACE = 5000;
const ana = { username: 'Ana', userId: 'ana-1' };
const bo = { username: 'Bo', userId: 'bo-1' };

let roomCounter = 0;
/** A room name no earlier test used (a shared store keeps rooms across tests). */
function freshRoom(name: string): string {
  return `${name}-${process.pid}-${++roomCounter}`;
}

function describeChange(change: PresenceChange): string {
  return `${change.type} ${change.member.userId}`;
}

export function describePresenceContract(name: string, make: MakePresence): void {
  describe(`Presence contract: ${name}`, () => {
    let system: PresenceSystem;
    let a: Presence;
    let b: Presence;
    /** What each presence announced, in order, by room. */
    let changes: { node: 'a' | 'b'; room: string; text: string }[];

    beforeEach(async () => {
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      system = await make(2, GRACE);
      [a, b] = system.presences as [Presence, Presence];
      changes = [];
      a.onChange((change) => changes.push({ node: 'a', room: change.room, text: describeChange(change) }));
      b.onChange((change) => changes.push({ node: 'b', room: change.room, text: describeChange(change) }));
    });
    afterEach(async () => {
      vi.useRealTimers();
      await system.close();
    });

    /** Moves the fake clock, then waits for what the timers started. */
    async function advance(ms: number): Promise<void> {
      await vi.advanceTimersByTimeAsync(ms);
      await system.settled?.();
    }

    function announced(room: string): string[] {
      return changes.filter((change) => change.room === room).map((change) => `${change.node}: ${change.text}`);
    }

    it('a first connection announces joined, before join() resolves; members() lists the user', async () => {
      const room = freshRoom('join');
      await a.join(room, ana, 'c1');
      expect(announced(room)).toEqual(['a: joined ana-1']);
      expect(await a.members(room)).toEqual([ana]);
      expect(await b.members(room)).toEqual([ana]);
    });

    it('a user with two connections (two tabs) is one joined and one left; members in the order they came', async () => {
      const room = freshRoom('tabs');
      await a.join(room, ana, 'c1');
      await a.join(room, bo, 'c2');
      await b.join(room, ana, 'c3');
      expect(await b.members(room)).toEqual([ana, bo]);
      await a.leave(room, ana.userId, 'c1', { grace: false });
      expect(announced(room)).toEqual(['a: joined ana-1', 'a: joined bo-1']);
      await b.leave(room, ana.userId, 'c3', { grace: false });
      expect(announced(room)).toEqual(['a: joined ana-1', 'a: joined bo-1', 'b: left ana-1']);
      expect(await a.members(room)).toEqual([bo]);
    });

    it('leave without grace announces left at once; a connection that was not in the room changes nothing', async () => {
      const room = freshRoom('leave');
      await a.join(room, ana, 'c1');
      await a.leave(room, ana.userId, 'other', { grace: false });
      await a.leave(freshRoom('never'), ana.userId, 'c1', { grace: false });
      expect(await a.members(room)).toEqual([ana]);
      await a.leave(room, ana.userId, 'c1', { grace: false });
      expect(announced(room)).toEqual(['a: joined ana-1', 'a: left ana-1']);
      expect(await a.members(room)).toEqual([]);
    });

    it('with grace: the user stays present (members() lists it) until the grace period passes, then left, announced once', async () => {
      const room = freshRoom('grace');
      await a.join(room, ana, 'c1');
      await a.leave(room, ana.userId, 'c1', { grace: true });
      await advance(GRACE - 1);
      expect(announced(room)).toEqual(['a: joined ana-1']);
      expect(await b.members(room)).toEqual([ana]);
      await advance(1);
      expect(announced(room)).toEqual(['a: joined ana-1', 'a: left ana-1']);
      expect(await b.members(room)).toEqual([]);
      await advance(GRACE * 2);
      expect(announced(room)).toHaveLength(2);
    });

    it('back within the grace period (a quick reconnect), on this node or another: no left, no joined', async () => {
      const room = freshRoom('back');
      await a.join(room, ana, 'c1');
      await a.leave(room, ana.userId, 'c1', { grace: true });
      await advance(GRACE - 1);
      await b.join(room, ana, 'c2');
      await advance(GRACE * 2);
      expect(announced(room)).toEqual(['a: joined ana-1']);
      expect(await a.members(room)).toEqual([ana]);
      // Its new connection goes too: the grace period starts again, from then.
      await b.leave(room, ana.userId, 'c2', { grace: true });
      await advance(GRACE);
      expect(announced(room)).toEqual(['a: joined ana-1', 'b: left ana-1']);
    });

    it('a leave without grace ends a grace period running: left at once, not again later', async () => {
      const room = freshRoom('cut');
      await a.join(room, ana, 'c1');
      await a.join(room, ana, 'c2');
      await a.leave(room, ana.userId, 'c1', { grace: true });
      await a.leave(room, ana.userId, 'c2', { grace: false });
      expect(announced(room)).toEqual(['a: joined ana-1', 'a: left ana-1']);
      await advance(GRACE * 2);
      expect(announced(room)).toHaveLength(2);
    });

    it('rooms are independent: a user in two rooms leaves one and stays in the other', async () => {
      const first = freshRoom('first');
      const second = freshRoom('second');
      await a.join(first, ana, 'c1');
      await a.join(second, ana, 'c1');
      await a.leave(first, ana.userId, 'c1', { grace: false });
      expect(await a.members(first)).toEqual([]);
      expect(await a.members(second)).toEqual([ana]);
      expect(announced(second)).toEqual(['a: joined ana-1']);
    });

    it('the remover of onChange stops that listener only', async () => {
      const room = freshRoom('listener');
      const seen: string[] = [];
      const remove = a.onChange((change) => seen.push(describeChange(change)));
      await a.join(room, ana, 'c1');
      remove();
      await a.join(room, bo, 'c2');
      expect(seen).toEqual(['joined ana-1']);
      expect(announced(room)).toEqual(['a: joined ana-1', 'a: joined bo-1']);
    });

    it('close() drops the grace periods it runs: it announces nothing after it (another node may finish them)', async () => {
      const room = freshRoom('close');
      await a.join(room, ana, 'c1');
      await a.leave(room, ana.userId, 'c1', { grace: true });
      await a.close();
      await advance(GRACE * 2);
      expect(announced(room).filter((line) => line.startsWith('a: '))).toEqual(['a: joined ana-1']);
    });

    it('overview() counts the users present (grace included) across the system, the same on every node', async () => {
      const first = freshRoom('overview');
      const second = freshRoom('overview');
      await a.join(first, ana, 'c1');
      await b.join(first, bo, 'c2');
      await b.join(second, ana, 'c3');
      await b.leave(second, ana.userId, 'c3', { grace: true });
      const [seenByA, seenByB] = await Promise.all([a.overview(), b.overview()]);
      expect(seenByA).toEqual(seenByB);
      expect(seenByA.rooms[first]).toBe(2);
      expect(seenByA.rooms[second]).toBe(1);
      expect(seenByA.users).toBe(2);
      expect(a.state).toBe('up');
      expect(b.state).toBe('up');
    });
  });
}
