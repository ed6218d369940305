/** SmallSet (chat/src/small-set.ts): a Set of strings, one member held without a Set. */

import { describe, expect, it } from 'vitest';
import { SmallSet } from '../src/small-set.js';

describe('SmallSet', () => {
  it('behaves as a Set through one member, two, and back to none, in insertion order', () => {
    const set = new SmallSet();
    expect([set.size, set.has('a'), [...set]]).toEqual([0, false, []]);
    expect(set.delete('a')).toBe(false);
    set.add('a').add('a');
    expect([set.size, set.has('a'), set.has('b'), [...set]]).toEqual([1, true, false, ['a']]);
    expect(set.delete('b')).toBe(false);
    set.add('b').add('c').add('b');
    expect([set.size, [...set]]).toEqual([3, ['a', 'b', 'c']]);
    expect([set.delete('a'), set.delete('a'), set.has('a'), set.has('c')]).toEqual([true, false, false, true]);
    expect([...set]).toEqual(['b', 'c']);
    expect([set.delete('b'), set.delete('c'), set.size, [...set]]).toEqual([true, true, 0, []]);
    set.add('d');
    expect([set.size, [...set]]).toEqual([1, ['d']]);
  });

  it('starts with a member, and clear() empties it whatever it held', () => {
    const set = new SmallSet('x');
    expect([set.size, [...set]]).toEqual([1, ['x']]);
    set.clear();
    expect([set.size, set.has('x'), [...set]]).toEqual([0, false, []]);
    set.add('p').add('q');
    set.clear();
    expect([set.size, set.has('p'), [...set]]).toEqual([0, false, []]);
    expect([...set.add('r')]).toEqual(['r']);
  });

  it("keeps an empty string as a member (not taken for 'no member')", () => {
    const set = new SmallSet();
    set.add('');
    expect([set.size, set.has(''), [...set]]).toEqual([1, true, ['']]);
    expect(set.delete('')).toBe(true);
    expect(set.size).toBe(0);
  });
});
