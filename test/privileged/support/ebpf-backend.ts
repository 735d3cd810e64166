/**
 * A tiny backend for the eBPF privileged tests: answers TCP `GET /` with its name and echoes UDP
 * datagrams prefixed with its name. Usage: node ebpf-backend.ts NAME IP PORT (TCP and UDP on the
 * same port). Prints "ready" once both sockets listen.
 */
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';

const [name, ip, portText] = process.argv.slice(2);
const port = Number(portText);
if (!name || !ip || !port) throw new Error('usage: ebpf-backend.ts NAME IP PORT');

const tcp = createServer((sock) => {
  sock.once('data', () => {
    sock.end(
      `HTTP/1.0 200 OK\r\nContent-Length: ${name.length}\r\nConnection: close\r\n\r\n${name}`,
    );
  });
  sock.on('error', () => {});
});
const udp = createSocket('udp4');
udp.on('message', (msg, rinfo) => udp.send(`${name}:${msg.toString()}`, rinfo.port, rinfo.address));

let pending = 2;
const ready = (): void => {
  if (--pending === 0) process.stdout.write('ready\n');
};
tcp.listen(port, ip, ready);
udp.bind(port, ip, ready);
