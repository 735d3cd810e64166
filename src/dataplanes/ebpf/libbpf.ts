/**
 * @module dataplanes/ebpf/libbpf
 * The one seam between kpr and the kernel's BPF subsystem: `LibbpfBinding`, a narrow set of
 * libbpf calls, implemented with koffi over the system's libbpf.so.1 (see
 * docs/design/ebpf-loader.md for why FFI rather than an N-API addon). Unit tests use the fake in
 * fake-libbpf.ts instead. Every call that fails throws an `EbpfCallError` carrying the errno.
 */
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { DataplaneError } from '../../util/errors.ts';

/** An opaque libbpf pointer (struct bpf_object/bpf_map/bpf_program/bpf_link *). */
export type Handle = bigint;

export interface BatchResult {
  /** Entries processed. */
  readonly count: number;
  /** The map has no more entries after these (lookup) or the kernel stopped early (ENOENT). */
  readonly done: boolean;
}

export interface LibbpfBinding {
  openObject(path: string): Handle;
  /** Verifies and loads every program and creates (or reuses pinned) maps; slow, so async. */
  loadObject(obj: Handle): Promise<void>;
  closeObject(obj: Handle): void;
  findMap(obj: Handle, name: string): Handle;
  mapFd(map: Handle): number;
  mapSetMaxEntries(map: Handle, n: number): void;
  /** Makes load() reuse the map pinned at path when it is compatible, or create and pin it. */
  mapSetPinPath(map: Handle, path: string): void;
  findProgram(obj: Handle, name: string): Handle;
  programFd(prog: Handle): number;
  attachCgroup(prog: Handle, cgroupFd: number): Handle;
  linkPin(link: Handle, path: string): void;
  linkOpen(path: string): Handle;
  /** Atomically replaces the program behind a link (BPF_LINK_UPDATE). */
  linkUpdateProgram(link: Handle, prog: Handle): void;
  /** Closes the link handle; a pinned link stays attached until its pin is removed. */
  linkDestroy(link: Handle): void;
  objPin(fd: number, path: string): void;
  /** Opens a pinned object; `readOnly` opens maps with BPF_F_RDONLY. */
  objGet(path: string, readOnly?: boolean): number;
  /** struct bpf_map_info fields kpr needs. */
  mapInfo(fd: number): {
    type: number;
    keySize: number;
    valueSize: number;
    maxEntries: number;
    flags: number;
  };
  mapUpdate(fd: number, key: Buffer, value: Buffer): void;
  /** Returns false when the key is absent. */
  mapLookup(fd: number, key: Buffer, value: Buffer): boolean;
  /** Returns false when the key was already absent. */
  mapDelete(fd: number, key: Buffer): boolean;
  /** Writes the key after `key` (or the first key when null) into `next`; false at the end. */
  mapNextKey(fd: number, key: Buffer | null, next: Buffer): boolean;
  mapUpdateBatch(fd: number, keys: Buffer, values: Buffer, count: number): void;
  mapDeleteBatch(fd: number, keys: Buffer, count: number): void;
  /** One chunk of a batched dump; pass `inBatch` null first, then the previous `outBatch`. */
  mapLookupBatch(
    fd: number,
    inBatch: Buffer | null,
    outBatch: Buffer,
    keys: Buffer,
    values: Buffer,
    max: number,
  ): BatchResult;
  closeFd(fd: number): void;
}

/** A failed libbpf/bpf(2) call. */
export class EbpfCallError extends DataplaneError {
  readonly errno: number;
  constructor(call: string, errno: number, detail = '') {
    super(
      'KPR_ERR_EBPF_CALL',
      `${call} failed: ${errnoName(errno)}${detail ? ` (${detail})` : ''}`,
    );
    this.name = 'EbpfCallError';
    this.errno = errno;
  }
}

const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM (run as root or grant CAP_BPF+CAP_NET_ADMIN)',
  2: 'ENOENT',
  7: 'E2BIG (map is full: raise its max_entries)',
  9: 'EBADF',
  12: 'ENOMEM (raise RLIMIT_MEMLOCK or the memory cgroup limit)',
  13: 'EACCES (verifier rejected the program)',
  16: 'EBUSY',
  17: 'EEXIST',
  22: 'EINVAL',
  28: 'ENOSPC',
  95: 'EOPNOTSUPP (kernel too old?)',
};
export function errnoName(e: number): string {
  return ERRNO_NAMES[e] ?? `errno ${e}`;
}

const ENOENT = 2;
const BPF_F_RDONLY = 1 << 3;

/** Loads libbpf.so.1 through koffi. Throws with install advice when it is missing. */
export function createKoffiLibbpf(libPath = 'libbpf.so.1'): LibbpfBinding {
  const require = createRequire(import.meta.url);
  const koffi = require('koffi') as typeof import('koffi');
  let lib: ReturnType<typeof koffi.load>;
  try {
    lib = koffi.load(libPath);
  } catch (e) {
    throw new DataplaneError(
      'KPR_ERR_NO_LIBBPF',
      `cannot load ${libPath}: install libbpf 1.x (Debian/Ubuntu: apt-get install libbpf1)`,
      { cause: e },
    );
  }
  const fn = (decl: string) => lib.func(decl);
  const c = {
    openFile: fn('void *bpf_object__open_file(const char *path, void *opts)'),
    load: fn('int bpf_object__load(void *obj)'),
    close: fn('void bpf_object__close(void *obj)'),
    findMap: fn('void *bpf_object__find_map_by_name(void *obj, const char *name)'),
    mapFd: fn('int bpf_map__fd(void *map)'),
    setMax: fn('int bpf_map__set_max_entries(void *map, uint32_t n)'),
    setPin: fn('int bpf_map__set_pin_path(void *map, const char *path)'),
    findProg: fn('void *bpf_object__find_program_by_name(void *obj, const char *name)'),
    progFd: fn('int bpf_program__fd(void *prog)'),
    attachCg: fn('void *bpf_program__attach_cgroup(void *prog, int cgroup_fd)'),
    linkPin: fn('int bpf_link__pin(void *link, const char *path)'),
    linkOpen: fn('void *bpf_link__open(const char *path)'),
    linkUpdate: fn('int bpf_link__update_program(void *link, void *prog)'),
    linkDestroy: fn('int bpf_link__destroy(void *link)'),
    objPin: fn('int bpf_obj_pin(int fd, const char *path)'),
    objGetOpts: fn('int bpf_obj_get_opts(const char *path, void *opts)'),
    infoByFd: fn('int bpf_obj_get_info_by_fd(int fd, void *info, _Inout_ uint32_t *len)'),
    update: fn(
      'int bpf_map_update_elem(int fd, const void *key, const void *value, uint64_t flags)',
    ),
    lookup: fn('int bpf_map_lookup_elem(int fd, const void *key, void *value)'),
    del: fn('int bpf_map_delete_elem(int fd, const void *key)'),
    nextKey: fn('int bpf_map_get_next_key(int fd, const void *key, void *next)'),
    updateBatch: fn(
      'int bpf_map_update_batch(int fd, const void *keys, const void *values, void *count, void *opts)',
    ),
    deleteBatch: fn('int bpf_map_delete_batch(int fd, const void *keys, void *count, void *opts)'),
    lookupBatch: fn(
      'int bpf_map_lookup_batch(int fd, void *in_batch, void *out_batch, void *keys, void *values, void *count, void *opts)',
    ),
    closeFd: fn('int close(int fd)'),
  };
  const loadAsync = promisify(c.load.async) as (obj: Handle) => Promise<number>;

  /** libbpf 1.x int calls return -errno; pointer calls return NULL with errno set. */
  const check = (call: string, rc: number, detail?: string): number => {
    if (rc < 0) throw new EbpfCallError(call, -rc, detail);
    return rc;
  };
  const ptr = (call: string, p: unknown, detail?: string): Handle => {
    if (p === null || p === undefined || p === 0n)
      throw new EbpfCallError(call, koffi.errno() || ENOENT, detail);
    return p as Handle;
  };

  return {
    openObject: (path) => ptr('bpf_object__open_file', c.openFile(path, null), path),
    loadObject: async (obj) => {
      check('bpf_object__load', await loadAsync(obj), 'see the verifier log on stderr');
    },
    closeObject: (obj) => void c.close(obj),
    findMap: (obj, name) => ptr('bpf_object__find_map_by_name', c.findMap(obj, name), name),
    mapFd: (map) => check('bpf_map__fd', c.mapFd(map)),
    mapSetMaxEntries: (map, n) => void check('bpf_map__set_max_entries', c.setMax(map, n)),
    mapSetPinPath: (map, path) => void check('bpf_map__set_pin_path', c.setPin(map, path), path),
    findProgram: (obj, name) =>
      ptr('bpf_object__find_program_by_name', c.findProg(obj, name), name),
    programFd: (prog) => check('bpf_program__fd', c.progFd(prog)),
    attachCgroup: (prog, fd) => ptr('bpf_program__attach_cgroup', c.attachCg(prog, fd)),
    linkPin: (link, path) => void check('bpf_link__pin', c.linkPin(link, path), path),
    linkOpen: (path) => ptr('bpf_link__open', c.linkOpen(path), path),
    linkUpdateProgram: (link, prog) =>
      void check('bpf_link__update_program', c.linkUpdate(link, prog)),
    linkDestroy: (link) => void c.linkDestroy(link),
    objPin: (fd, path) => void check('bpf_obj_pin', c.objPin(fd, path), path),
    objGet: (path, readOnly = false) => {
      // struct bpf_obj_get_opts { size_t sz; __u32 file_flags; } (16 bytes with padding)
      const opts = Buffer.alloc(16);
      opts.writeBigUInt64LE(16n, 0);
      opts.writeUInt32LE(readOnly ? BPF_F_RDONLY : 0, 8);
      return check('bpf_obj_get', c.objGetOpts(path, opts), path);
    },
    mapInfo: (fd) => {
      // struct bpf_map_info: type, id, key_size, value_size, max_entries, map_flags (u32 each) first.
      const info = Buffer.alloc(96);
      check('bpf_obj_get_info_by_fd', c.infoByFd(fd, info, [info.length]));
      return {
        type: info.readUInt32LE(0),
        keySize: info.readUInt32LE(8),
        valueSize: info.readUInt32LE(12),
        maxEntries: info.readUInt32LE(16),
        flags: info.readUInt32LE(20),
      };
    },
    mapUpdate: (fd, key, value) => void check('bpf_map_update_elem', c.update(fd, key, value, 0)),
    mapLookup: (fd, key, value) => {
      const rc = c.lookup(fd, key, value) as number;
      if (rc === -ENOENT) return false;
      check('bpf_map_lookup_elem', rc);
      return true;
    },
    mapDelete: (fd, key) => {
      const rc = c.del(fd, key) as number;
      if (rc === -ENOENT) return false;
      check('bpf_map_delete_elem', rc);
      return true;
    },
    mapNextKey: (fd, key, next) => {
      const rc = c.nextKey(fd, key, next) as number;
      if (rc === -ENOENT) return false;
      check('bpf_map_get_next_key', rc);
      return true;
    },
    mapUpdateBatch: (fd, keys, values, count) => {
      const n = Buffer.alloc(4);
      n.writeUInt32LE(count);
      check(
        'bpf_map_update_batch',
        c.updateBatch(fd, keys, values, n, null),
        `${n.readUInt32LE()} of ${count} written`,
      );
    },
    mapDeleteBatch: (fd, keys, count) => {
      const n = Buffer.alloc(4);
      n.writeUInt32LE(count);
      check(
        'bpf_map_delete_batch',
        c.deleteBatch(fd, keys, n, null),
        `${n.readUInt32LE()} of ${count} deleted`,
      );
    },
    mapLookupBatch: (fd, inBatch, outBatch, keys, values, max) => {
      const n = Buffer.alloc(4);
      n.writeUInt32LE(max);
      const rc = c.lookupBatch(fd, inBatch, outBatch, keys, values, n, null) as number;
      if (rc === -ENOENT) return { count: n.readUInt32LE(), done: true };
      check('bpf_map_lookup_batch', rc);
      return { count: n.readUInt32LE(), done: false };
    },
    closeFd: (fd) => void c.closeFd(fd),
  };
}
