/**
 * @module test/support/client
 * A pod-side client for the end-to-end and conformance suites, run inside the lab's client pod
 * (its netns and cgroup). Prints one JSON object on stdout.
 *
 *   http  IP PORT COUNT          → { counts: { podName: n }, failures, errors: [...] }
 *   peer  IP PORT                → { remoteAddress, remotePort, body }   (getpeername after connect)
 *   udp   IP PORT                → { from: "ip:port", body }              (recvmsg source address)
 *   loop  IP PORT DURATION_MS    → { ok, failures, errors: [...] }        (sequential connects)
 *   refused IP PORT              → { code, ms }                            (expects a fast failure)
 */
import { connect } from 'node:net';
import { createSocket } from 'node:dgram';

interface Answer {
  body: string;
  remoteAddress: string | undefined;
  remotePort: number | undefined;
}

function request(ip: string, port: number, timeoutMs = 2000): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: ip, port });
    const chunks: Buffer[] = [];
    let remoteAddress: string | undefined;
    let remotePort: number | undefined;
    const timer = setTimeout(() => sock.destroy(new Error('ETIMEDOUT')), timeoutMs);
    sock.on('connect', () => {
      remoteAddress = sock.remoteAddress;
      remotePort = sock.remotePort;
      sock.write(`GET / HTTP/1.1\r\nHost: ${ip}\r\nConnection: close\r\n\r\n`);
    });
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString();
      const body = text.slice(text.indexOf('\r\n\r\n') + 4);
      resolve({ body: body.split('\n')[0]!.trim(), remoteAddress, remotePort });
    });
  });
}

function code(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? String(e);
}

async function main(): Promise<unknown> {
  const [mode, ip = '', portText = '0', arg = ''] = process.argv.slice(2);
  const port = Number(portText);
  switch (mode) {
    case 'http': {
      const counts: Record<string, number> = {};
      const errors: string[] = [];
      for (let i = 0; i < Number(arg); i++) {
        try {
          const a = await request(ip, port);
          counts[a.body] = (counts[a.body] ?? 0) + 1;
        } catch (e) {
          errors.push(code(e));
        }
      }
      return { counts, failures: errors.length, errors: errors.slice(0, 10) };
    }
    case 'peer': {
      const a = await request(ip, port);
      return { remoteAddress: a.remoteAddress, remotePort: a.remotePort, body: a.body };
    }
    case 'udp':
      return await new Promise((resolve, reject) => {
        const s = createSocket('udp4');
        const timer = setTimeout(() => {
          s.close();
          reject(new Error('no UDP answer within 2s'));
        }, 2000);
        s.on('message', (msg, rinfo) => {
          clearTimeout(timer);
          s.close();
          resolve({
            from: `${rinfo.address}:${rinfo.port}`,
            body: msg.toString().split('\n')[0]!.trim(),
          });
        });
        s.on('error', (e) => {
          clearTimeout(timer);
          s.close();
          resolve({ error: code(e) });
        });
        s.send('hello\n', port, ip);
      });
    case 'loop': {
      const end = performance.now() + Number(arg);
      let ok = 0;
      const errors: string[] = [];
      while (performance.now() < end) {
        try {
          const a = await request(ip, port);
          if (a.body) ok++;
          else errors.push('empty answer');
        } catch (e) {
          errors.push(code(e));
        }
      }
      return { ok, failures: errors.length, errors: errors.slice(0, 10) };
    }
    case 'refused': {
      const t0 = performance.now();
      try {
        const a = await request(ip, port, 3000);
        return { code: 'CONNECTED', body: a.body, ms: performance.now() - t0 };
      } catch (e) {
        return { code: code(e), ms: performance.now() - t0 };
      }
    }
    default:
      throw new Error(`unknown mode ${mode}`);
  }
}

main().then(
  (r) => process.stdout.write(JSON.stringify(r) + '\n'),
  (e: unknown) => {
    process.stderr.write(`client: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
