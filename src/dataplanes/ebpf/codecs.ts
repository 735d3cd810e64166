/**
 * @module dataplanes/ebpf/codecs
 * Buffer codecs for every key and value of the maps declared in bpf/include/kpr_maps.h. Each
 * struct's name, size and field offsets are declared in `LAYOUTS`, which the loader compares
 * with the BTF of the built object before touching any map (see btf.ts), so the C header and
 * this file cannot drift apart silently. Every offset used below is derived from `LAYOUTS`.
 *
 * Two kinds of encoders: `write*` functions write straight into a large preallocated, zeroed
 * buffer at a computed offset (the full-sync path, no per-entry objects), and object codecs
 * (`encode*`/`decode*`) for tests and read-back.
 *
 * Byte order follows the header: addresses and ports in network order, slots, counts and flags
 * in host order (little-endian on every platform kpr supports). A backend is handled in
 * TypeScript as one number, `ip * 65536 + port` (< 2^48, exact in a double): see packBackend.
 */
export interface FieldLayout {
  readonly name: string;
  readonly offset: number;
  readonly size: number;
}

export interface StructLayout {
  readonly name: string;
  readonly size: number;
  readonly fields: readonly FieldLayout[];
}

export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;

/** kpr_svc_value.flags bits. */
export const SVC_F_EXTERNAL_IP = 1 << 0;
export const SVC_F_LOCAL = 1 << 1;

/** Backends per kpr_services entry (KPR_SLOT_BACKENDS). */
export const SLOT_BACKENDS = 16;
export const SVC_NAME_LEN = 160;

const f = (name: string, offset: number, size: number): FieldLayout => ({ name, offset, size });

/** The layouts this file encodes; must match kpr_maps.h (checked against BTF at load). */
export const LAYOUTS: readonly StructLayout[] = [
  {
    name: 'kpr_svc_key',
    size: 12,
    fields: [
      f('vip', 0, 4),
      f('dport', 4, 2),
      f('proto', 6, 1),
      f('pad1', 7, 1),
      f('slot', 8, 2),
      f('pad2', 10, 2),
    ],
  },
  { name: 'kpr_backend', size: 8, fields: [f('ip', 0, 4), f('port', 4, 2), f('pad', 6, 2)] },
  {
    name: 'kpr_svc_value',
    size: 8 + 8 * SLOT_BACKENDS + SVC_NAME_LEN,
    fields: [
      f('count', 0, 2),
      f('flags', 2, 2),
      f('pad', 4, 4),
      f('backends', 8, 8 * SLOT_BACKENDS),
      f('name', 8 + 8 * SLOT_BACKENDS, SVC_NAME_LEN),
    ],
  },
  {
    name: 'kpr_revnat_key',
    size: 16,
    fields: [f('cookie', 0, 8), f('ip', 8, 4), f('port', 12, 2), f('pad', 14, 2)],
  },
  { name: 'kpr_revnat_value', size: 8, fields: [f('vip', 0, 4), f('dport', 4, 2), f('pad', 6, 2)] },
];

function layout(name: string): StructLayout {
  const l = LAYOUTS.find((s) => s.name === name);
  if (!l) throw new Error(`no layout for ${name}`);
  return l;
}
function off(struct: StructLayout, field: string): number {
  const fl = struct.fields.find((x) => x.name === field);
  if (!fl) throw new Error(`no field ${struct.name}.${field}`);
  return fl.offset;
}

const SVC_KEY = layout('kpr_svc_key');
const SVC_VAL = layout('kpr_svc_value');
const BACKEND = layout('kpr_backend');

export const SVC_KEY_SIZE = SVC_KEY.size;
export const SVC_VALUE_SIZE = SVC_VAL.size;
export const BACKEND_SIZE = BACKEND.size;
export const REVNAT_KEY_SIZE = layout('kpr_revnat_key').size;
export const REVNAT_VALUE_SIZE = layout('kpr_revnat_value').size;

// Offsets resolved once: the full-sync encoders run a million times per sync.
const K_VIP = off(SVC_KEY, 'vip');
const K_DPORT = off(SVC_KEY, 'dport');
const K_PROTO = off(SVC_KEY, 'proto');
const K_SLOT = off(SVC_KEY, 'slot');
const V_COUNT = off(SVC_VAL, 'count');
const V_FLAGS = off(SVC_VAL, 'flags');
const V_BACKENDS = off(SVC_VAL, 'backends');
const V_NAME = off(SVC_VAL, 'name');
const B_IP = off(BACKEND, 'ip');
const B_PORT = off(BACKEND, 'port');

/**
 * Parses a dotted IPv4 address into a u32; -1 for anything else (IPv6, garbage, leading zeros,
 * which Kubernetes' own validation rejects too). Cheaper than net.isIPv4 + a parse.
 */
export function parseIPv4(ip: string): number {
  let v = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return -1;
      v = v * 256 + octet;
      octet = digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits === 3 || (digits === 1 && octet === 0)) return -1;
      octet = octet * 10 + (c - 48);
      if (octet > 255) return -1;
      digits++;
    } else return -1;
  }
  if (dots !== 3 || digits === 0) return -1;
  return v * 256 + octet;
}
export function formatIPv4(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}
function mustIPv4(ip: string): number {
  const v = parseIPv4(ip);
  if (v < 0) throw new Error(`not an IPv4 address: ${ip}`);
  return v;
}

/** A backend as one number: `ip * 65536 + port`. */
export function packBackend(ip: number, port: number): number {
  return ip * 65536 + port;
}
export function unpackBackend(b: number): { ip: string; port: number } {
  const port = b % 65536;
  return { ip: formatIPv4((b - port) / 65536), port };
}

/** Writes a kpr_svc_key at `at` of a zeroed buffer. */
export function writeSvcKey(
  buf: Buffer,
  at: number,
  vip: number,
  port: number,
  proto: number,
  slot: number,
): void {
  buf.writeUInt32BE(vip, at + K_VIP);
  buf.writeUInt16BE(port, at + K_DPORT);
  buf[at + K_PROTO] = proto;
  buf.writeUInt16LE(slot, at + K_SLOT);
}

/** Writes `n` (<= 16) packed backends pool[from, from+n) into the value at `at`. */
export function writeSvcBackends(
  buf: Buffer,
  at: number,
  pool: ArrayLike<number>,
  from: number,
  n: number,
): void {
  let p = at + V_BACKENDS;
  for (let i = from; i < from + n; i++, p += BACKEND_SIZE) {
    const b = pool[i]!;
    const port = b % 65536;
    buf.writeUInt32BE((b - port) / 65536, p + B_IP);
    buf.writeUInt16BE(port, p + B_PORT);
  }
}

/**
 * Writes a master kpr_svc_value at `at` of a zeroed buffer: `count` backends in total, of which
 * the first 16 (pool[from, ...)) go inline. Names longer than the field are cut on a UTF-8
 * boundary (Buffer#write never writes a partial character), keeping a NUL.
 */
export function writeSvcMaster(
  buf: Buffer,
  at: number,
  flags: number,
  count: number,
  pool: ArrayLike<number>,
  from: number,
  name: string,
): void {
  buf.writeUInt16LE(count, at + V_COUNT);
  buf.writeUInt16LE(flags, at + V_FLAGS);
  writeSvcBackends(buf, at, pool, from, Math.min(count, SLOT_BACKENDS));
  buf.write(name, at + V_NAME, SVC_NAME_LEN - 1, 'utf8');
}

export interface SvcKey {
  readonly vip: string;
  readonly port: number;
  /** IPPROTO_TCP or IPPROTO_UDP. */
  readonly proto: number;
  /** 0 = master entry, n = overflow entry holding backends 16n..16n+15. */
  readonly slot: number;
}

export interface SvcValue {
  /** Master: backends of the frontend. Overflow entries: 0. */
  readonly count: number;
  readonly flags: number;
  /** This entry's backend positions, packed (see packBackend); 0 = empty, trailing empties cut. */
  readonly backends: readonly number[];
  /** Master: the owning service port key. Overflow entries: ''. */
  readonly name: string;
}

export function encodeSvcKey(k: SvcKey, buf: Buffer = Buffer.alloc(SVC_KEY_SIZE), at = 0): Buffer {
  buf.fill(0, at, at + SVC_KEY_SIZE);
  writeSvcKey(buf, at, mustIPv4(k.vip), k.port, k.proto, k.slot);
  return buf;
}
export function decodeSvcKey(buf: Buffer, at = 0): SvcKey {
  return {
    vip: formatIPv4(buf.readUInt32BE(at + K_VIP)),
    port: buf.readUInt16BE(at + K_DPORT),
    proto: buf[at + K_PROTO]!,
    slot: buf.readUInt16LE(at + K_SLOT),
  };
}

export function encodeSvcValue(v: SvcValue, buf: Buffer = Buffer.alloc(SVC_VALUE_SIZE)): Buffer {
  buf.fill(0, 0, SVC_VALUE_SIZE);
  writeSvcMaster(
    buf,
    0,
    v.flags,
    Math.min(v.backends.length, SLOT_BACKENDS),
    v.backends,
    0,
    v.name,
  );
  buf.writeUInt16LE(v.count, V_COUNT);
  return buf;
}
export function decodeSvcValue(buf: Buffer, at = 0): SvcValue {
  const backends: number[] = [];
  for (let i = 0; i < SLOT_BACKENDS; i++) {
    const p = at + V_BACKENDS + i * BACKEND_SIZE;
    const ip = buf.readUInt32BE(p + B_IP);
    backends.push(ip === 0 ? 0 : packBackend(ip, buf.readUInt16BE(p + B_PORT)));
  }
  while (backends.length > 0 && backends[backends.length - 1] === 0) backends.pop();
  const name = buf.subarray(at + V_NAME, at + V_NAME + SVC_NAME_LEN);
  const nul = name.indexOf(0);
  return {
    count: buf.readUInt16LE(at + V_COUNT),
    flags: buf.readUInt16LE(at + V_FLAGS),
    backends,
    name: name.subarray(0, nul < 0 ? name.length : nul).toString('utf8'),
  };
}

export function protoNumber(p: string): number | undefined {
  return p === 'TCP' ? IPPROTO_TCP : p === 'UDP' ? IPPROTO_UDP : undefined;
}
export function protoName(n: number): 'TCP' | 'UDP' {
  if (n === IPPROTO_TCP) return 'TCP';
  if (n === IPPROTO_UDP) return 'UDP';
  throw new Error(`unexpected IP protocol ${n} in a kpr map entry`);
}
