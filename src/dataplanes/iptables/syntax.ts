/**
 * @module dataplanes/iptables/syntax
 * Everything that turns untrusted strings into iptables-restore tokens. Object names, port names,
 * addresses and ranges come from the API server (or a file) and are validated there, but the
 * dataplane defends anyway: iptables-restore splits a line on whitespace and treats `"`, `'` and
 * `\` specially, so one stray character in a comment or an address could end the comment early
 * or smuggle in a second target. Addresses are therefore parsed strictly and comment text is
 * reduced to a safe alphabet before it is quoted.
 */

/** The longest comment the xt_comment match accepts (256 bytes including the NUL). */
const MAX_COMMENT = 255;

/** Characters that may appear in a comment without quoting (all of Kubernetes' name alphabet). */
const BARE_RE = /^[A-Za-z0-9._:/-]+$/;

/**
 * Makes arbitrary text safe for `-m comment --comment <here>`: control characters (newlines
 * included), non-ASCII and iptables-restore's quoting characters (`"`, `'`, `\`, backtick) become
 * `_`; the result is cut to what the kernel accepts and double-quoted unless it is a single bare
 * word, which is exactly how kube-proxy's own comments look for valid names.
 */
export function commentToken(text: string): string {
  let clean = text.replace(/[^\x20-\x7e]|["'\\`]/g, '_').slice(0, MAX_COMMENT);
  if (clean === '') clean = '_';
  return BARE_RE.test(clean) ? clean : `"${clean}"`;
}

/** `-m comment --comment <text>` as one string of tokens. */
export function comment(text: string): string {
  return `-m comment --comment ${commentToken(text)}`;
}

const OCTET = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const IPV4_RE = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);

/** A canonical dotted-quad IPv4 address (no leading zeros, no spaces), or false. */
export function isIPv4(s: string): boolean {
  return IPV4_RE.test(s);
}

function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
}

function intToIPv4(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

export interface CIDR4 {
  readonly network: number;
  readonly bits: number;
  /** Canonical text: the network address and prefix length, as Go's net.IPNet prints it. */
  readonly text: string;
}

/**
 * Parses an IPv4 CIDR (surrounding spaces tolerated, as kube-proxy trims them); host bits are
 * cleared like Go's net.ParseCIDR does. A bare address means /32. Returns undefined when the
 * string is not an IPv4 CIDR.
 */
export function parseCIDR4(s: string): CIDR4 | undefined {
  const t = s.trim();
  const slash = t.indexOf('/');
  const ip = slash < 0 ? t : t.slice(0, slash);
  const bitsText = slash < 0 ? '32' : t.slice(slash + 1);
  if (!isIPv4(ip) || !/^(3[0-2]|[12]?[0-9])$/.test(bitsText)) return undefined;
  const bits = Number(bitsText);
  const size = 2 ** (32 - bits);
  const network = Math.floor(ipv4ToInt(ip) / size) * size;
  return { network, bits, text: `${intToIPv4(network)}/${bits}` };
}

export function cidrContains(cidr: CIDR4, ip: string): boolean {
  if (!isIPv4(ip)) return false;
  const size = 2 ** (32 - cidr.bits);
  return Math.floor(ipv4ToInt(ip) / size) * size === cidr.network;
}

/** A TCP/UDP/SCTP port number. */
export function isPort(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= 65535;
}

/**
 * Splits one iptables-save / iptables-restore rule line into tokens the way iptables-restore
 * does: whitespace separates, double quotes group, a backslash escapes the next character.
 */
export function tokenize(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inToken = false;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === '\\' && i + 1 < line.length) {
      cur += line[++i];
      inToken = true;
    } else if (c === '"') {
      quoted = !quoted;
      inToken = true;
    } else if (!quoted && (c === ' ' || c === '\t')) {
      if (inToken) out.push(cur);
      cur = '';
      inToken = false;
    } else {
      cur += c;
      inToken = true;
    }
  }
  if (inToken) out.push(cur);
  return out;
}
