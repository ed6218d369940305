/**
 * A set of strings that keeps a single member without a Set (issue 15: memory per user). Most
 * users are in one room with one connection, and a Set with its hash table is about 150 bytes
 * for that one string; this is one object of two fields until a second member comes.
 */
export class SmallSet implements Iterable<string> {
  /** The member while there is exactly one (many === null). */
  private one: string | undefined;
  /** Every member, once there have been two at a time. */
  private many: Set<string> | null = null;

  constructor(member?: string) {
    this.one = member;
  }

  get size(): number {
    return this.many !== null ? this.many.size : this.one !== undefined ? 1 : 0;
  }

  has(member: string): boolean {
    return this.many !== null ? this.many.has(member) : this.one === member;
  }

  add(member: string): this {
    if (this.many !== null) this.many.add(member);
    else if (this.one === undefined) this.one = member;
    else if (this.one !== member) {
      this.many = new Set([this.one, member]);
      this.one = undefined;
    }
    return this;
  }

  delete(member: string): boolean {
    if (this.many !== null) return this.many.delete(member);
    if (this.one !== member) return false;
    this.one = undefined;
    return true;
  }

  clear(): void {
    this.one = undefined;
    this.many = null;
  }

  /** The members in the order they were added. */
  *[Symbol.iterator](): IterableIterator<string> {
    if (this.many !== null) yield* this.many;
    else if (this.one !== undefined) yield this.one;
  }
}
