/**
 * A V8 heap snapshot (`.heapsnapshot`, as v8.writeHeapSnapshot writes it) summed up: self sizes
 * per constructor for objects, per node type for the rest. bench/idle-heap.ts and
 * bench/chat-memory.ts diff two of them to say what a connection or a user keeps.
 */

import { readFileSync } from 'node:fs';

export interface Group {
  count: number;
  bytes: number;
}

/** Self sizes summed per constructor (objects, natives), per closure name, or per node type. */
export function snapshotGroups(path: string): Map<string, Group> {
  const snapshot = JSON.parse(readFileSync(path, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snapshot.snapshot.meta.node_fields;
  const types = snapshot.snapshot.meta.node_types[0];
  const width = fields.length;
  const TYPE = fields.indexOf('type');
  const NAME = fields.indexOf('name');
  const SIZE = fields.indexOf('self_size');
  const out = new Map<string, Group>();
  const { nodes, strings } = snapshot;
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + TYPE]!]!;
    const name = strings[nodes[i + NAME]!]!;
    const key = type === 'object' || type === 'native' ? name : type === 'closure' ? `closure ${name || '(anonymous)'}` : `(${type})`;
    const group = out.get(key) ?? { count: 0, bytes: 0 };
    group.count++;
    group.bytes += nodes[i + SIZE]!;
    out.set(key, group);
  }
  return out;
}
