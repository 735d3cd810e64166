import { after, afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  copyFile,
  mkdir,
  readFile,
  rename,
  rm,
  symlink,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { badFixtures, goodFixtures } from '../../../test/fixtures/manifests/corpus.ts';
import { KprError } from '../../util/errors.ts';
import { memoryLogger } from '../../util/log.ts';
import { ManifestSource } from './manifest-source.ts';
import {
  RecordingHandler,
  makeTempDir,
  removeTempDir,
  serviceYaml,
  writeAtomically,
} from './testing.ts';

/** A change must reach the handler well within this (the brief allows 100 ms). */
const LATENCY_BUDGET_MS = 100;

let dir: string;
let source: ManifestSource | undefined;
const dirs: string[] = [];

beforeEach(async () => {
  dir = await makeTempDir('manifests');
  dirs.push(dir);
});

afterEach(async () => {
  await source?.stop();
  source = undefined;
  await removeTempDir(dir);
});

after(async () => {
  for (const d of dirs) await removeTempDir(d);
});

async function startSource(opts: { rescanIntervalMs?: number } = {}): Promise<RecordingHandler> {
  const h = new RecordingHandler();
  source = new ManifestSource({
    dir,
    log: memoryLogger(),
    rescanIntervalMs: opts.rescanIntervalMs ?? 0,
  });
  await source.start(h);
  return h;
}

/**
 * Runs `change`, waits for `pred`, returns the latency from the end of the write to the event
 * (negative when the source was done before the write's promise resolved, which happens: the
 * source reads a file as soon as its first event arrives).
 */
async function timed(
  h: RecordingHandler,
  what: string,
  change: () => Promise<void>,
  pred: () => boolean,
): Promise<number> {
  const before = h.events.length;
  await change();
  const t0 = performance.now();
  await h.waitFor(what, () => pred() && h.events.length > before, 2000);
  return h.events[h.events.length - 1]!.at - t0;
}

function svcPort(h: RecordingHandler, key: string): number | undefined {
  return h.services.get(key)?.spec?.ports?.[0]?.port;
}

describe('ManifestSource: initial scan', () => {
  it('emits every object of the good corpus, then onSynced, with no error', async () => {
    for (const f of goodFixtures()) await copyFile(f.path, join(dir, f.file));
    await writeFile(join(dir, 'notes.txt'), 'not a manifest');
    await mkdir(join(dir, 'sub'));
    await writeFile(join(dir, 'sub', 'ignored.yaml'), serviceYaml('in-subfolder', '198.18.30.1'));
    const h = await startSource();
    assert.deepEqual(
      h.invalid.map((e) => e.message),
      [],
    );
    assert.deepEqual([...h.services.keys()].sort(), [
      'default/listed',
      'default/np',
      'shop/dual',
      'shop/ext',
      'shop/headless',
      'shop/json-svc',
      'shop/lb',
      'shop/sticky',
      'shop/web',
    ]);
    assert.deepEqual([...h.slices.keys()].sort(), [
      'default/listed-1',
      'shop/dual-v6',
      'shop/web-abc12',
    ]);
    assert.equal(h.syncedAfter, h.events.length, 'onSynced comes after the initial objects');
    assert.equal(
      h.services.get('shop/web')?.spec?.ports?.[1]?.protocol,
      'TCP',
      'protocol defaulted',
    );
  });

  it('rejects start() with advice when the folder does not exist', async () => {
    const s = new ManifestSource({ dir: join(dir, 'missing'), log: memoryLogger() });
    await assert.rejects(s.start(new RecordingHandler()), (e: unknown) => {
      assert.ok(e instanceof KprError);
      assert.equal(e.code, 'KPR_ERR_MANIFEST_DIR');
      assert.match(e.message, /missing.*create it/);
      return true;
    });
  });
});

describe('ManifestSource: watching', () => {
  it('picks up a new file, an edit and a delete within the latency budget', async (t) => {
    await writeFile(join(dir, 'a.yaml'), serviceYaml('alpha', '198.18.30.1'));
    const h = await startSource();
    const path = join(dir, 'b.yaml');
    const added = await timed(
      h,
      'beta added',
      () => writeFile(path, serviceYaml('beta', '198.18.30.2')),
      () => h.services.has('default/beta'),
    );
    const edited = await timed(
      h,
      'beta edited',
      () => writeFile(path, serviceYaml('beta', '198.18.30.2', 8080)),
      () => svcPort(h, 'default/beta') === 8080,
    );
    const deleted = await timed(
      h,
      'beta deleted',
      () => unlink(path),
      () => !h.services.has('default/beta'),
    );
    for (const [what, ms] of Object.entries({ added, edited, deleted })) {
      t.diagnostic(`${what}: ${ms.toFixed(1)} ms`);
      assert.ok(ms < LATENCY_BUDGET_MS, `${what} took ${ms.toFixed(1)} ms`);
    }
    assert.ok(h.services.has('default/alpha'));
    assert.deepEqual(
      h.events.map((e) => `${e.key}:${e.value ? 'set' : 'del'}`),
      ['default/alpha:set', 'default/beta:set', 'default/beta:set', 'default/beta:del'],
    );
    assert.deepEqual(h.invalid, []);
  });

  it('handles an editor-style rename-over save as one update, never a delete', async () => {
    const path = join(dir, 'svc.yaml');
    await writeFile(path, serviceYaml('alpha', '198.18.30.1'));
    const h = await startSource();
    const ms = await timed(
      h,
      'alpha updated',
      () => writeAtomically(path, serviceYaml('alpha', '198.18.30.1', 81)),
      () => svcPort(h, 'default/alpha') === 81,
    );
    assert.ok(ms < LATENCY_BUDGET_MS, `update took ${ms.toFixed(1)} ms`);
    await sleep(60); // longer than the delete grace: a spurious delete would show up now
    assert.deepEqual(
      h.events.map((e) => !!e.value),
      [true, true],
    );
  });

  it('rides out a save that moves the old file away before writing the new one', async () => {
    const path = join(dir, 'svc.yaml');
    await writeFile(path, serviceYaml('alpha', '198.18.30.1'));
    const h = await startSource();
    await writeFile(join(dir, 'svc.yaml~'), await readFile(path));
    await unlink(path);
    await sleep(5);
    await writeFile(path, serviceYaml('alpha', '198.18.30.1', 82));
    await h.waitFor('alpha updated', () => svcPort(h, 'default/alpha') === 82);
    await sleep(60);
    assert.deepEqual(
      h.events.map((e) => !!e.value),
      [true, true],
      'no delete in between',
    );
  });

  it('re-emits only the objects that changed in a multi-document file', async () => {
    const path = join(dir, 'multi.yaml');
    const docs = (p: number): string =>
      [
        serviceYaml('one', '198.18.30.1'),
        serviceYaml('two', '198.18.30.2', p),
        serviceYaml('three', '198.18.30.3'),
      ].join('---\n');
    await writeFile(path, docs(80));
    const h = await startSource();
    assert.equal(h.events.length, 3);
    await writeFile(path, docs(90));
    await h.waitFor('two updated', () => svcPort(h, 'default/two') === 90);
    await writeFile(
      path,
      [serviceYaml('one', '198.18.30.1'), serviceYaml('two', '198.18.30.2', 90)].join('---\n'),
    );
    await h.waitFor('three deleted', () => !h.services.has('default/three'));
    await sleep(20);
    assert.deepEqual(
      h.events.slice(3).map((e) => `${e.key}:${e.value ? 'set' : 'del'}`),
      ['default/two:set', 'default/three:del'],
    );
  });

  it('stops emitting after stop()', async () => {
    const h = await startSource();
    await source!.stop();
    await writeFile(join(dir, 'late.yaml'), serviceYaml('late', '198.18.30.9'));
    await sleep(60);
    assert.equal(h.events.length, 0);
  });

  it('follows a ConfigMap-volume style symlink swap of ..data', async () => {
    // kubelet mounts ConfigMaps as name -> ..data/name, and updates by swapping the ..data link.
    await mkdir(join(dir, '..v1'));
    await writeFile(join(dir, '..v1', 'svc.yaml'), serviceYaml('cm', '198.18.30.5', 80));
    await symlink('..v1', join(dir, '..data'));
    await symlink(join('..data', 'svc.yaml'), join(dir, 'svc.yaml'));
    const h = await startSource();
    assert.equal(svcPort(h, 'default/cm'), 80);
    await mkdir(join(dir, '..v2'));
    await writeFile(join(dir, '..v2', 'svc.yaml'), serviceYaml('cm', '198.18.30.5', 81));
    const ms = await timed(
      h,
      'cm updated',
      async () => {
        await symlink('..v2', join(dir, '..data_tmp'));
        await rename(join(dir, '..data_tmp'), join(dir, '..data'));
      },
      () => svcPort(h, 'default/cm') === 81,
    );
    assert.ok(ms < LATENCY_BUDGET_MS, `update took ${ms.toFixed(1)} ms`);
  });

  it('ignores hidden temp files and plain non-manifest files, but rescans for a new folder', async () => {
    // svc.yaml points into a subfolder, so a change behind it is seen only by a full rescan:
    // that makes rescans observable.
    await mkdir(join(dir, 'real'));
    await writeFile(join(dir, 'real', 'svc.yaml'), serviceYaml('hid', '198.18.30.6', 80));
    await symlink(join('real', 'svc.yaml'), join(dir, 'svc.yaml'));
    const h = await startSource();
    await writeFile(join(dir, 'real', 'svc.yaml'), serviceYaml('hid', '198.18.30.6', 81));
    // The lab's atomic writes and editors' swap files: no rescan of the whole folder.
    await writeFile(join(dir, '.other.yaml.tmp'), 'scratch');
    await writeFile(join(dir, 'notes.txt'), 'plain file');
    await sleep(60);
    assert.equal(svcPort(h, 'default/hid'), 80, 'a temp or plain file caused a rescan');
    // A folder (or symlink) may be what manifests point through: that does rescan.
    await mkdir(join(dir, 'more'));
    await h.waitFor('rescan after a new folder', () => svcPort(h, 'default/hid') === 81);
    assert.deepEqual(h.invalid, []);
  });

  it('reads an in-place rewrite once it is complete, never deleting on the way', async () => {
    const path = join(dir, 'svc.yaml');
    await writeFile(path, serviceYaml('alpha', '198.18.30.1'));
    const h = await startSource();
    // Truncate, then write: the source must not take the empty file for a deletion.
    await writeFile(path, '');
    await writeFile(path, serviceYaml('alpha', '198.18.30.1', 83));
    await h.waitFor('alpha updated', () => svcPort(h, 'default/alpha') === 83);
    await sleep(60);
    assert.deepEqual(
      h.events.map((e) => !!e.value),
      [true, true],
      'no delete in between',
    );
  });
});

describe('ManifestSource: bad input', () => {
  const OTHER_FILE = serviceYaml('gamma', '198.18.31.3');
  const SAME_FILE_TAIL = `---\n${serviceYaml('same-file-ok', '198.18.31.2')}`;

  for (const f of badFixtures()) {
    it(`${f.file}: one error naming the file, line and object; everything else flows`, async () => {
      await writeFile(join(dir, 'a-good.yaml'), serviceYaml('alpha', '198.18.31.1'));
      await writeFile(join(dir, f.file), f.text + SAME_FILE_TAIL);
      await writeFile(join(dir, 'c-good.yaml'), OTHER_FILE);
      const h = await startSource();
      assert.equal(
        h.invalid.length,
        1,
        `errors: ${JSON.stringify(h.invalid.map((e) => e.message))}`,
      );
      const err = h.invalid[0]!;
      assert.equal(err.code, 'KPR_ERR_INVALID_OBJECT');
      assert.equal(err.source, `${join(dir, f.file)}:${f.line}`);
      assert.ok(
        err.object.includes(f.object),
        `object ${JSON.stringify(err.object)} names ${f.object}`,
      );
      assert.ok(
        err.message.includes(f.error),
        `message ${JSON.stringify(err.message)} has ${f.error}`,
      );
      for (const k of ['default/alpha', 'default/same-file-ok', 'default/gamma'])
        assert.ok(h.services.has(k), k);
      assert.notEqual(h.syncedAfter, undefined);
    });
  }

  it('keeps the last valid version when an edit makes an object invalid, then applies the fix', async () => {
    const path = join(dir, 'svc.yaml');
    await writeFile(path, serviceYaml('alpha', '198.18.31.1') + SAME_FILE_TAIL);
    const h = await startSource();
    await writeFile(path, serviceYaml('alpha', '198.18.31.1', 70000) + SAME_FILE_TAIL);
    await h.waitFor('error', () => h.invalid.length === 1);
    assert.match(
      h.invalid[0]!.message,
      /Service default\/alpha: spec\.ports\[0\]\.port: 70000 is outside 1-65535; the last valid version stays/,
    );
    assert.equal(svcPort(h, 'default/alpha'), 80);
    await writeFile(path, serviceYaml('alpha', '198.18.31.1', 81) + SAME_FILE_TAIL);
    await h.waitFor('fixed', () => svcPort(h, 'default/alpha') === 81);
    assert.equal(h.events.filter((e) => !e.value).length, 0, 'nothing was deleted');
  });

  it('keeps everything a file defined while it does not parse; deletions apply once it does', async () => {
    const path = join(dir, 'svc.yaml');
    await writeFile(
      path,
      [serviceYaml('one', '198.18.31.1'), serviceYaml('two', '198.18.31.2')].join('---\n'),
    );
    const h = await startSource();
    await writeFile(
      path,
      `${serviceYaml('one', '198.18.31.1', 81)}---\nkind: Service\nmetadata: [oops\n`,
    );
    await h.waitFor('syntax error', () => h.invalid.length === 1);
    assert.match(
      h.invalid[0]!.message,
      /YAML syntax error.*keeps what it defined before \(Service default\/two\)/,
    );
    assert.equal(svcPort(h, 'default/one'), 81, 'readable documents still apply');
    assert.ok(h.services.has('default/two'));
    await writeFile(path, serviceYaml('one', '198.18.31.1', 81));
    await h.waitFor('two deleted', () => !h.services.has('default/two'));
    await unlink(path);
    await h.waitFor('file deleted', () => h.services.size === 0);
  });

  it('lets the first of two files defining an object win until it is removed', async () => {
    await writeFile(join(dir, 'a.yaml'), serviceYaml('dup', '198.18.31.1', 80));
    await writeFile(join(dir, 'b.yaml'), serviceYaml('dup', '198.18.31.1', 90) + SAME_FILE_TAIL);
    await writeFile(join(dir, 'c.yaml'), OTHER_FILE);
    const h = await startSource();
    assert.equal(h.invalid.length, 1);
    const err = h.invalid[0]!;
    assert.equal(err.source, `${join(dir, 'b.yaml')}:1`);
    assert.equal(err.object, 'Service default/dup');
    assert.match(err.message, /also defined in .*a\.yaml:1, which was read first/);
    assert.equal(svcPort(h, 'default/dup'), 80);
    assert.ok(h.services.has('default/same-file-ok') && h.services.has('default/gamma'));
    await unlink(join(dir, 'a.yaml'));
    await h.waitFor('b takes over', () => svcPort(h, 'default/dup') === 90);
    assert.equal(
      h.events.filter((e) => e.key === 'default/dup' && !e.value).length,
      0,
      'never deleted',
    );
  });

  it('keeps running when the handler throws', async () => {
    await writeFile(join(dir, 'a.yaml'), serviceYaml('alpha', '198.18.31.1'));
    const h = new RecordingHandler();
    let thrown = 0;
    const onService = h.onService.bind(h);
    h.onService = (ns, name, svc) => {
      onService(ns, name, svc);
      thrown++;
      throw new Error('handler bug');
    };
    source = new ManifestSource({ dir, log: memoryLogger(), rescanIntervalMs: 0 });
    await source.start(h);
    await writeFile(join(dir, 'b.yaml'), serviceYaml('beta', '198.18.31.2'));
    await h.waitFor('beta', () => h.services.has('default/beta'));
    assert.equal(thrown, 2);
  });

  it('does not delete anything when the folder disappears', async () => {
    await writeFile(join(dir, 'a.yaml'), serviceYaml('alpha', '198.18.31.1'));
    const h = await startSource({ rescanIntervalMs: 30 });
    await rm(dir, { recursive: true });
    await sleep(120);
    assert.ok(h.services.has('default/alpha'));
    assert.equal(h.events.length, 1);
    // When it comes back, the rescan reconciles it and the watch follows the new folder.
    await mkdir(dir);
    await writeFile(join(dir, 'b.yaml'), serviceYaml('beta', '198.18.31.2'));
    await h.waitFor(
      'alpha deleted, beta added',
      () => !h.services.has('default/alpha') && h.services.has('default/beta'),
    );
    await sleep(60); // let the rescan re-establish the watch
    await writeFile(join(dir, 'c.yaml'), serviceYaml('gamma', '198.18.31.3'));
    await h.waitFor('gamma via the new watch or a rescan', () => h.services.has('default/gamma'));
  });
});
