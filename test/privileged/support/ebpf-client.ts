/**
 * Client for the eBPF privileged tests; runs inside the test cgroup and netns and prints one
 * JSON line. Modes:
 *   tcp IP PORT N [CONCURRENCY]   N connections doing GET /: {counts, errors, peers}
 *   udp IP PORT N                 N datagrams from one unconnected socket: {counts, from}
 *   refused IP PORT               one connect(): {code, ms}
 *   loop IP PORT MS               sequential connections for MS milliseconds: {ok, fail, errors}
 */
import { connect } from 'node:net';
import { createSocket } from 'node:dgram';

const [mode, ip = '', portText = '', arg = '0', concText = '20'] = process.argv.slice(2);
const port = Number(portText);

function get(): Promise<{ name: string; peer: string }> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: ip, port });
    let body = '';
    let peer = '';
    s.setTimeout(3000, () => s.destroy(new Error('timeout')));
    s.on('connect', () => {
      peer = `${s.remoteAddress}:${s.remotePort}`; // getpeername(2)
      s.write('GET / HTTP/1.0\r\n\r\n');
    });
    s.on('data', (d) => (body += d.toString()));
    s.on('end', () => resolve({ name: body.split('\r\n\r\n')[1] ?? '', peer }));
    s.on('error', reject);
  });
}

async function tcp(n: number, conc: number): Promise<void> {
  const counts: Record<string, number> = {};
  const peers = new Set<string>();
  const errors: string[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      next++;
      try {
        const r = await get();
        counts[r.name] = (counts[r.name] ?? 0) + 1;
        peers.add(r.peer);
      } catch (e) {
        errors.push((e as NodeJS.ErrnoException).code ?? String(e));
      }
    }
  };
  await Promise.all(Array.from({ length: conc }, worker));
  console.log(JSON.stringify({ counts, errors, peers: [...peers] }));
}

async function udp(n: number): Promise<void> {
  const s = createSocket('udp4');
  const counts: Record<string, number> = {};
  const from = new Set<string>();
  for (let i = 0; i < n; i++) {
    const reply = await new Promise<{ msg: string; from: string }>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('udp timeout')), 3000);
      s.once('message', (msg, rinfo) => {
        clearTimeout(t);
        resolve({ msg: msg.toString(), from: `${rinfo.address}:${rinfo.port}` });
      });
      s.send(`ping${i}`, port, ip);
    });
    const name = reply.msg.split(':')[0]!;
    counts[name] = (counts[name] ?? 0) + 1;
    from.add(reply.from);
  }
  s.close();
  console.log(JSON.stringify({ counts, from: [...from] }));
}

async function refused(): Promise<void> {
  const t0 = performance.now();
  const code = await new Promise<string>((resolve) => {
    const s = connect({ host: ip, port });
    s.setTimeout(5000, () => {
      s.destroy();
      resolve('TIMEOUT');
    });
    s.on('connect', () => {
      s.destroy();
      resolve('CONNECTED');
    });
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
  console.log(JSON.stringify({ code, ms: performance.now() - t0 }));
}

async function loop(ms: number): Promise<void> {
  const end = Date.now() + ms;
  let ok = 0;
  let fail = 0;
  const errors: string[] = [];
  while (Date.now() < end) {
    try {
      if ((await get()).name) ok++;
      else fail++;
    } catch (e) {
      fail++;
      if (errors.length < 5) errors.push((e as NodeJS.ErrnoException).code ?? String(e));
    }
  }
  console.log(JSON.stringify({ ok, fail, errors }));
}

if (mode === 'tcp') await tcp(Number(arg), Number(concText));
else if (mode === 'udp') await udp(Number(arg));
else if (mode === 'refused') await refused();
else if (mode === 'loop') await loop(Number(arg));
else throw new Error(`unknown mode ${mode}`);
