import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseManifest } from './parse.ts';

const svc = (name: string, extra = ''): string =>
  `apiVersion: v1\nkind: Service\nmetadata:\n  name: ${name}\n${extra}spec:\n  ports: [{port: 80}]\n`;

describe('parseManifest', () => {
  it('finds each document with its starting line and defaults the namespace', () => {
    const r = parseManifest(`# comment\n${svc('a')}---\n${svc('b', '  namespace: shop\n')}---\n`);
    assert.deepEqual(r.problems, []);
    assert.deepEqual(
      r.objects.map((o) => [o.key, o.label, o.line]),
      [
        ['Service/default/a', 'Service default/a', 2],
        ['Service/shop/b', 'Service shop/b', 9],
      ],
    );
    assert.equal((r.objects[0]!.object.metadata as { namespace: string }).namespace, 'default');
  });

  it('expands List items with their own lines', () => {
    const text =
      'apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: Service\n    metadata: {name: a}\n  - apiVersion: v1\n    kind: Service\n    metadata: {name: b}\n';
    assert.deepEqual(
      parseManifest(text).objects.map((o) => [o.name, o.line]),
      [
        ['a', 4],
        ['b', 7],
      ],
    );
  });

  it('reads JSON, including tab-indented JSON', () => {
    const r = parseManifest(
      '{\n\t"apiVersion": "v1",\n\t"kind": "Service",\n\t"metadata": {"name": "j"}\n}\n',
    );
    assert.deepEqual(
      r.objects.map((o) => o.key),
      ['Service/default/j'],
    );
  });

  it('marks unreadable documents opaque and names what it can', () => {
    const r = parseManifest(
      `${svc('ok')}---\nkind: Service\nmetadata:\n  name: broken\n  x: [\n---\n${svc('after')}`,
    );
    assert.deepEqual(
      r.objects.map((o) => o.name),
      ['ok', 'after'],
    );
    assert.equal(r.problems.length, 1);
    const p = r.problems[0]!;
    assert.equal(p.opaque, true);
    assert.match(p.label, /^Service default\/broken \(document 2\)$/);
    assert.match(p.problem, /^YAML syntax error: /);
  });

  it('refuses duplicate keys, scalars, and documents without kind or name', () => {
    const r = parseManifest(
      'a: 1\na: 2\n---\njust a string\n---\nmetadata: {name: x}\n---\nkind: Service\napiVersion: v1\n',
    );
    assert.deepEqual(
      r.problems.map((p) => [p.line, p.opaque, p.problem.split(':')[0]]),
      [
        [2, true, 'YAML syntax error'],
        [4, true, 'is not a map; expected a Kubernetes object with apiVersion, kind and metadata'],
        [6, true, 'kind'],
        [8, true, 'metadata.name'],
      ],
    );
  });

  it('identifies a known kind with the wrong apiVersion so its last good version can be kept', () => {
    const r = parseManifest(svc('a').replace('apiVersion: v1', 'apiVersion: v9'));
    assert.deepEqual(r.objects, []);
    assert.deepEqual(
      r.problems.map((p) => [p.key, p.opaque]),
      [['Service/default/a', false]],
    );
  });

  it('bounds alias expansion', () => {
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 8; i++)
      bomb.push(
        `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10)
          .fill(`*${String.fromCharCode(96 + i)}`)
          .join(', ')}]`,
      );
    const r = parseManifest(bomb.join('\n') + '\n');
    assert.equal(r.problems.length, 1);
    assert.match(r.problems[0]!.problem, /cannot read: .*alias/i);
  });
});
