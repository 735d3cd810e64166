/**
 * @module util/exec
 * The one seam through which kpr runs external commands (iptables-restore, nft, ip, bpftool).
 * Arguments are always passed as an argv array, never through a shell, so object names cannot
 * inject anything.
 */
import { spawn } from 'node:child_process';
import { KprError } from './errors.ts';

export interface ExecResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number;
}

export interface ExecOptions {
  /** Written to the command's standard input. */
  input?: string;
  /** Do not throw on a non-zero exit code. */
  allowFailure?: boolean;
  /** Run inside this network namespace (a path such as /run/netns/NAME), via nsenter. */
  netns?: string;
  timeoutMs?: number;
}

export type CommandRunner = (
  cmd: string,
  args: readonly string[],
  opts?: ExecOptions,
) => Promise<ExecResult>;

export const run: CommandRunner = (cmd, args, opts = {}) => {
  const argv = opts.netns ? ['nsenter', `--net=${opts.netns}`, '--', cmd, ...args] : [cmd, ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs) timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', (e) =>
      reject(
        new KprError('KPR_ERR_EXEC', `cannot run ${cmd}: ${e.message}; is it installed?`, {
          cause: e,
        }),
      ),
    );
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const res = {
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
        code: code ?? 128,
      };
      if (res.code !== 0 && !opts.allowFailure) {
        const why = signal ? `killed by ${signal}` : `exit ${res.code}`;
        reject(
          new KprError(
            'KPR_ERR_EXEC',
            `${argv.join(' ').slice(0, 200)} failed (${why}): ${res.stderr.trim().slice(0, 2000)}`,
          ),
        );
      } else resolve(res);
    });
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
};
