/**
 * @module test/privileged/support/tcp-scripts
 * Tiny TCP server and client programs (run with `node -e`) for the rule-based dataplane tests,
 * which need a backend in one namespace and a client in another but nothing as heavy as a lab.
 */

/** A server answering each connection with its reply line; exits by itself after two minutes. */
export function replyServer(ip: string, replies: readonly (readonly [number, string])[]): string {
  return `
const net = require('node:net');
for (const [port, reply] of ${JSON.stringify(replies)})
  net.createServer((s) => s.end(reply + '\\n')).listen(port, ${JSON.stringify(ip)});
setTimeout(() => process.exit(0), 120000);
`;
}

/** `node -e CLIENT IP PORT`: prints the server's reply, or `error <code>` / `timeout`. */
export const CLIENT = `
const net = require('node:net');
const s = net.connect({ host: process.argv[1], port: Number(process.argv[2]), timeout: 2000 });
let out = '';
s.on('data', (d) => (out += d));
s.on('end', () => { process.stdout.write(out.trim()); process.exit(0); });
s.on('timeout', () => { process.stdout.write('timeout'); process.exit(1); });
s.on('error', (e) => { process.stdout.write('error ' + e.code); process.exit(1); });
`;
