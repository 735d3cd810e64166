/**
 * @module dataplanes/ebpf/codecs
 * Buffer codecs for every key and value of the maps declared in bpf/include/kpr_maps.h. Each
 * codec declares its struct name, size and field offsets (`LAYOUTS`), which the loader compares
 * with the BTF of the built object before touching any map (see btf.ts), so the C header and
 * this file cannot drift apart silently.
 *
 * Byte order follows the header: addresses and ports in network order, ids, slots, counts and
 * flags in host order (little-endian on every platform kpr supports).
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

export const SVC_NAME_LEN = 128;

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
  {
    name: 'kpr_svc_value',
    size: 12,
    fields: [f('backend_id', 0, 4), f('count', 4, 2), f('flags', 6, 2), f('service_id', 8, 4)],
  },
  {
    name: 'kpr_backend',
    size: 8,
    fields: [f('ip', 0, 4), f('port', 4, 2), f('proto', 6, 1), f('pad', 7, 1)],
  },
  { name: 'kpr_svc_name', size: SVC_NAME_LEN, fields: [f('name', 0, SVC_NAME_LEN)] },
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
const REV_VAL = layout('kpr_revnat_value');
const REV_KEY = layout('kpr_revnat_key');

export const SVC_KEY_SIZE = SVC_KEY.size;
export const SVC_VALUE_SIZE = SVC_VAL.size;
export const BACKEND_SIZE = BACKEND.size;
export const U32_SIZE = 4;
export const REVNAT_KEY_SIZE = REV_KEY.size;
export const REVNAT_VALUE_SIZE = REV_VAL.size;

/** Writes a dotted IPv4 address as 4 network-order bytes. */
export function writeIPv4(buf: Buffer, offset: number, ip: string): void {
  let octet = 0;
  let digits = 0;
  let at = offset;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46 && digits > 0 && octet <= 255 && at < offset + 3) {
      buf[at++] = octet;
      octet = digits = 0;
    } else if (c >= 48 && c <= 57 && digits < 3) {
      octet = octet * 10 + (c - 48);
      digits++;
    } else throw new Error(`not an IPv4 address: ${ip}`);
  }
  if (at !== offset + 3 || digits === 0 || octet > 255)
    throw new Error(`not an IPv4 address: ${ip}`);
  buf[at] = octet;
}
export function readIPv4(buf: Buffer, offset: number): string {
  return `${buf[offset]}.${buf[offset + 1]}.${buf[offset + 2]}.${buf[offset + 3]}`;
}

export interface SvcKey {
  readonly vip: string;
  readonly port: number;
  /** IPPROTO_TCP or IPPROTO_UDP. */
  readonly proto: number;
  /** 0 = master entry, 1..count = backend slot. */
  readonly slot: number;
}

/** Master entries use count/serviceId/flags, slot entries backendId. */
export interface SvcValue {
  readonly backendId: number;
  readonly count: number;
  readonly flags: number;
  readonly serviceId: number;
}

export interface BackendValue {
  readonly ip: string;
  readonly port: number;
  readonly proto: number;
}

export function encodeSvcKey(k: SvcKey, buf: Buffer = Buffer.alloc(SVC_KEY.size), at = 0): Buffer {
  buf.fill(0, at, at + SVC_KEY.size);
  writeIPv4(buf, at + off(SVC_KEY, 'vip'), k.vip);
  buf.writeUInt16BE(k.port, at + off(SVC_KEY, 'dport'));
  buf.writeUInt8(k.proto, at + off(SVC_KEY, 'proto'));
  buf.writeUInt16LE(k.slot, at + off(SVC_KEY, 'slot'));
  return buf;
}
export function decodeSvcKey(buf: Buffer, at = 0): SvcKey {
  return {
    vip: readIPv4(buf, at + off(SVC_KEY, 'vip')),
    port: buf.readUInt16BE(at + off(SVC_KEY, 'dport')),
    proto: buf.readUInt8(at + off(SVC_KEY, 'proto')),
    slot: buf.readUInt16LE(at + off(SVC_KEY, 'slot')),
  };
}

export function encodeSvcValue(
  v: SvcValue,
  buf: Buffer = Buffer.alloc(SVC_VAL.size),
  at = 0,
): Buffer {
  buf.fill(0, at, at + SVC_VAL.size);
  buf.writeUInt32LE(v.backendId, at + off(SVC_VAL, 'backend_id'));
  buf.writeUInt16LE(v.count, at + off(SVC_VAL, 'count'));
  buf.writeUInt16LE(v.flags, at + off(SVC_VAL, 'flags'));
  buf.writeUInt32LE(v.serviceId, at + off(SVC_VAL, 'service_id'));
  return buf;
}
export function decodeSvcValue(buf: Buffer, at = 0): SvcValue {
  return {
    backendId: buf.readUInt32LE(at + off(SVC_VAL, 'backend_id')),
    count: buf.readUInt16LE(at + off(SVC_VAL, 'count')),
    flags: buf.readUInt16LE(at + off(SVC_VAL, 'flags')),
    serviceId: buf.readUInt32LE(at + off(SVC_VAL, 'service_id')),
  };
}

export function encodeBackend(
  v: BackendValue,
  buf: Buffer = Buffer.alloc(BACKEND.size),
  at = 0,
): Buffer {
  buf.fill(0, at, at + BACKEND.size);
  writeIPv4(buf, at + off(BACKEND, 'ip'), v.ip);
  buf.writeUInt16BE(v.port, at + off(BACKEND, 'port'));
  buf.writeUInt8(v.proto, at + off(BACKEND, 'proto'));
  return buf;
}
export function decodeBackend(buf: Buffer, at = 0): BackendValue {
  return {
    ip: readIPv4(buf, at + off(BACKEND, 'ip')),
    port: buf.readUInt16BE(at + off(BACKEND, 'port')),
    proto: buf.readUInt8(at + off(BACKEND, 'proto')),
  };
}

export function encodeU32(n: number, buf: Buffer = Buffer.alloc(U32_SIZE), at = 0): Buffer {
  buf.writeUInt32LE(n, at);
  return buf;
}
export function decodeU32(buf: Buffer, at = 0): number {
  return buf.readUInt32LE(at);
}

/** Service names longer than the slot are truncated on a UTF-8 boundary (display only). */
export function encodeSvcName(
  name: string,
  buf: Buffer = Buffer.alloc(SVC_NAME_LEN),
  at = 0,
): Buffer {
  buf.fill(0, at, at + SVC_NAME_LEN);
  let used = 0;
  for (const ch of name) {
    const n = Buffer.byteLength(ch, 'utf8');
    if (used + n > SVC_NAME_LEN - 1) break; // keep a NUL terminator
    buf.write(ch, at + used, 'utf8');
    used += n;
  }
  return buf;
}
export function decodeSvcName(buf: Buffer, at = 0): string {
  const raw = buf.subarray(at, at + SVC_NAME_LEN);
  const nul = raw.indexOf(0);
  return raw.subarray(0, nul < 0 ? raw.length : nul).toString('utf8');
}

export function protoNumber(p: string): number | undefined {
  return p === 'TCP' ? IPPROTO_TCP : p === 'UDP' ? IPPROTO_UDP : undefined;
}
export function protoName(n: number): 'TCP' | 'UDP' {
  if (n === IPPROTO_TCP) return 'TCP';
  if (n === IPPROTO_UDP) return 'UDP';
  throw new Error(`unexpected IP protocol ${n} in a kpr map entry`);
}
