import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ObjectRegistry, type Entry } from './registry.ts';

function entry(name: string, port: number, kind: 'Service' | 'EndpointSlice' = 'Service'): Entry {
  const key = `${kind}/default/${name}`;
  return {
    key,
    kind,
    namespace: 'default',
    name,
    label: `${kind} default/${name}`,
    line: 1,
    value: { port },
  };
}

function set(...entries: Entry[]): Map<string, Entry> {
  return new Map(entries.map((e) => [e.key, e]));
}

const summary = (r: ReturnType<ObjectRegistry['replaceFile']>): string[] =>
  r.changes.map(
    (c) => `${c.kind} ${c.name}=${c.value ? (c.value as { port: number }).port : 'deleted'}`,
  );

describe('ObjectRegistry', () => {
  it('reports adds, in-place updates, deletes, and nothing for unchanged objects', () => {
    const r = new ObjectRegistry();
    assert.deepEqual(summary(r.replaceFile('a', set(entry('x', 80), entry('y', 80)))), [
      'Service x=80',
      'Service y=80',
    ]);
    assert.deepEqual(summary(r.replaceFile('a', set(entry('x', 80), entry('y', 81)))), [
      'Service y=81',
    ]);
    assert.deepEqual(summary(r.replaceFile('a', set(entry('x', 80), entry('y', 81)))), []);
    assert.deepEqual(summary(r.replaceFile('a', set(entry('y', 81)))), ['Service x=deleted']);
    assert.deepEqual(summary(r.replaceFile('a', new Map())), ['Service y=deleted']);
    assert.deepEqual(r.files(), []);
  });

  it('orders Services before EndpointSlices', () => {
    const r = new ObjectRegistry();
    const res = r.replaceFile('a', set(entry('a-slice', 1, 'EndpointSlice'), entry('z', 1)));
    assert.deepEqual(summary(res), ['Service z=1', 'EndpointSlice a-slice=1']);
  });

  it('keeps the first claim in effect across files until it is withdrawn', () => {
    const r = new ObjectRegistry();
    r.replaceFile('a', set(entry('dup', 80)));
    const b = r.replaceFile('b', set(entry('dup', 90)));
    assert.deepEqual(summary(b), []);
    assert.equal(b.shadowed.length, 1);
    assert.equal(b.shadowed[0]!.winner.file, 'a');
    // Editing the winner is emitted; editing the loser is not.
    assert.deepEqual(summary(r.replaceFile('a', set(entry('dup', 81)))), ['Service dup=81']);
    assert.deepEqual(summary(r.replaceFile('b', set(entry('dup', 91)))), []);
    // The loser takes over when the winner's file drops the object, and keeps it after a re-add.
    const takeover = r.replaceFile('a', new Map());
    assert.deepEqual(summary(takeover), ['Service dup=91']);
    assert.equal(takeover.changes[0]!.file, 'b');
    const readd = r.replaceFile('a', set(entry('dup', 81)));
    assert.deepEqual(summary(readd), []);
    assert.equal(readd.shadowed[0]!.winner.file, 'b');
    assert.deepEqual(summary(r.replaceFile('b', new Map())), ['Service dup=81']);
  });
});
