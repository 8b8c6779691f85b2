/**
 * Reads V8 heap snapshots (`--heapsnapshot-signal`) into counts and self sizes per kind of object
 * (constructor name for objects, function name for closures, the node type otherwise), and
 * compares two of them: what N more connections cost, class by class.
 */
import fs from 'node:fs';

interface RawSnapshot {
  readonly snapshot: {
    readonly meta: {
      readonly node_fields: readonly string[];
      readonly node_types: readonly [readonly string[], ...unknown[]];
    };
  };
  readonly nodes: readonly number[];
  readonly strings: readonly string[];
}

export interface HeapClass {
  readonly name: string;
  readonly count: number;
  readonly selfBytes: number;
}

export function readHeapClasses(file: string): Map<string, HeapClass> {
  const raw = JSON.parse(fs.readFileSync(file, 'utf8')) as RawSnapshot;
  const fields = raw.snapshot.meta.node_fields;
  const types = raw.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const out = new Map<string, { name: string; count: number; selfBytes: number }>();
  for (let i = 0; i < raw.nodes.length; i += width) {
    const type = types[raw.nodes[i + typeAt]!] ?? 'unknown';
    const name = raw.strings[raw.nodes[i + nameAt]!] ?? '';
    const key =
      type === 'object' ? name : type === 'closure' ? `closure ${name || '(anonymous)'}` : `(${type})`;
    const entry = out.get(key);
    const size = raw.nodes[i + sizeAt]!;
    if (entry) {
      entry.count++;
      entry.selfBytes += size;
    } else {
      out.set(key, { name: key, count: 1, selfBytes: size });
    }
  }
  return out;
}

export interface HeapGrowth {
  readonly name: string;
  /** Objects and bytes added per connection (after − before, divided by connections). */
  readonly countPerConnection: number;
  readonly bytesPerConnection: number;
}

/** Classes that grew from `before` to `after`, per connection, largest first. */
export function heapGrowth(
  before: Map<string, HeapClass>,
  after: Map<string, HeapClass>,
  connections: number,
): HeapGrowth[] {
  const out: HeapGrowth[] = [];
  for (const [name, a] of after) {
    const b = before.get(name);
    const bytes = a.selfBytes - (b?.selfBytes ?? 0);
    if (bytes <= 0) continue;
    out.push({
      name,
      countPerConnection: Math.round(((a.count - (b?.count ?? 0)) / connections) * 100) / 100,
      bytesPerConnection: Math.round(bytes / connections),
    });
  }
  return out.sort((x, y) => y.bytesPerConnection - x.bytesPerConnection);
}
