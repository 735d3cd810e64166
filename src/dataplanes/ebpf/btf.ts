/**
 * @module dataplanes/ebpf/btf
 * Reads the struct layouts out of the .BTF section of a clang-built BPF object (a tiny ELF64 +
 * BTF reader, no kernel, no libbpf) and compares them with the TypeScript codecs' declared
 * layouts. A mismatch means bpf/include/kpr_maps.h and codecs.ts disagree; writing maps with
 * the wrong layout would corrupt the dataplane silently, so the loader refuses to start.
 */
import { DataplaneError } from '../../util/errors.ts';
import type { StructLayout } from './codecs.ts';

export interface BtfMember {
  readonly name: string;
  /** Byte offset (BTF stores bits; bitfields are reported with a fractional offset). */
  readonly offset: number;
}
export interface BtfStruct {
  readonly name: string;
  readonly size: number;
  readonly members: readonly BtfMember[];
}

const BTF_MAGIC = 0xeb9f;
const KIND_STRUCT = 4;
const KIND_UNION = 5;

/** Returns the bytes of an ELF64 little-endian section by name, or undefined if absent. */
export function elfSection(elf: Buffer, wanted: string): Buffer | undefined {
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46) throw new Error('not an ELF file');
  if (elf[4] !== 2 || elf[5] !== 1)
    throw new Error('only little-endian ELF64 objects are supported');
  const shoff = Number(elf.readBigUInt64LE(0x28));
  const shentsize = elf.readUInt16LE(0x3a);
  const shnum = elf.readUInt16LE(0x3c);
  const shstrndx = elf.readUInt16LE(0x3e);
  const hdr = (i: number): { name: number; offset: number; size: number } => {
    const at = shoff + i * shentsize;
    return {
      name: elf.readUInt32LE(at),
      offset: Number(elf.readBigUInt64LE(at + 24)),
      size: Number(elf.readBigUInt64LE(at + 32)),
    };
  };
  const strtab = hdr(shstrndx);
  for (let i = 0; i < shnum; i++) {
    const h = hdr(i);
    const start = strtab.offset + h.name;
    const end = elf.indexOf(0, start);
    if (elf.toString('latin1', start, end) === wanted)
      return elf.subarray(h.offset, h.offset + h.size);
  }
  return undefined;
}

/** Bytes of kind-specific data that follow each 12-byte btf_type record. */
function trailer(kind: number, vlen: number): number {
  switch (kind) {
    case 1: // INT
    case 14: // VAR
    case 17: // DECL_TAG
      return 4;
    case 3: // ARRAY
      return 12;
    case 4: // STRUCT
    case 5: // UNION
    case 15: // DATASEC
    case 19: // ENUM64
      return 12 * vlen;
    case 6: // ENUM
    case 13: // FUNC_PROTO
      return 8 * vlen;
    default: // PTR, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC, FLOAT, TYPE_TAG
      return 0;
  }
}

/** Parses every named struct/union in a raw .BTF section. */
export function parseBtfStructs(btf: Buffer): Map<string, BtfStruct> {
  if (btf.readUInt16LE(0) !== BTF_MAGIC)
    throw new Error('bad BTF magic (big-endian objects are not supported)');
  const hdrLen = btf.readUInt32LE(4);
  const typeOff = hdrLen + btf.readUInt32LE(8);
  const typeLen = btf.readUInt32LE(12);
  const strOff = hdrLen + btf.readUInt32LE(16);
  const str = (o: number): string => btf.toString('latin1', strOff + o, btf.indexOf(0, strOff + o));
  const out = new Map<string, BtfStruct>();
  let p = typeOff;
  while (p < typeOff + typeLen) {
    const nameOff = btf.readUInt32LE(p);
    const info = btf.readUInt32LE(p + 4);
    const size = btf.readUInt32LE(p + 8);
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    const kindFlag = info >>> 31 === 1;
    p += 12;
    if ((kind === KIND_STRUCT || kind === KIND_UNION) && nameOff !== 0) {
      const members: BtfMember[] = [];
      for (let i = 0; i < vlen; i++) {
        const m = p + i * 12;
        const raw = btf.readUInt32LE(m + 8);
        const bits = kindFlag ? raw & 0xffffff : raw;
        members.push({ name: str(btf.readUInt32LE(m)), offset: bits / 8 });
      }
      out.set(str(nameOff), { name: str(nameOff), size, members });
    }
    p += trailer(kind, vlen);
  }
  return out;
}

/** Reads the structs of a BPF object file's BTF. */
export function btfStructsOfObject(elf: Buffer): Map<string, BtfStruct> {
  const sec = elfSection(elf, '.BTF');
  if (!sec) throw new Error('object has no .BTF section; build it with clang -g');
  return parseBtfStructs(sec);
}

/**
 * Compares declared layouts with BTF. Returns one line per mismatch naming struct and field;
 * empty when everything agrees.
 */
export function compareLayouts(
  layouts: readonly StructLayout[],
  btf: ReadonlyMap<string, BtfStruct>,
): string[] {
  const problems: string[] = [];
  for (const l of layouts) {
    const s = btf.get(l.name);
    if (!s) {
      problems.push(`struct ${l.name}: missing from the object's BTF`);
      continue;
    }
    if (s.size !== l.size)
      problems.push(`struct ${l.name}: size is ${s.size} in BTF but ${l.size} in codecs.ts`);
    for (const fl of l.fields) {
      const m = s.members.find((x) => x.name === fl.name);
      if (!m) problems.push(`struct ${l.name}: field ${fl.name} is missing from BTF`);
      else if (m.offset !== fl.offset)
        problems.push(
          `struct ${l.name}: field ${fl.name} is at offset ${m.offset} in BTF but ${fl.offset} in codecs.ts`,
        );
    }
    for (const m of s.members) {
      if (!l.fields.some((x) => x.name === m.name))
        problems.push(
          `struct ${l.name}: field ${m.name} (offset ${m.offset}) is not declared in codecs.ts`,
        );
    }
  }
  return problems;
}

/** Throws a startup error when the object's BTF disagrees with the codecs. */
export function assertLayouts(
  objectPath: string,
  elf: Buffer,
  layouts: readonly StructLayout[],
): void {
  const problems = compareLayouts(layouts, btfStructsOfObject(elf));
  if (problems.length > 0) {
    throw new DataplaneError(
      'KPR_ERR_EBPF_LAYOUT',
      `${objectPath} does not match the TypeScript map codecs (rebuild with \`make -C bpf\`, or update src/dataplanes/ebpf/codecs.ts with bpf/include/kpr_maps.h): ${problems.join('; ')}`,
    );
  }
}
