/**
 * @module util/log
 * A tiny structured logger: one line per event, JSON (`KPR_LOG_FORMAT=json`) or `key=value` text.
 * Levels filter through `KPR_LOG_LEVEL` (debug, info, warn, error; default info).
 */

export type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

export interface LoggerOptions {
  level?: Level;
  format?: 'json' | 'text';
  write?: (line: string) => void;
}

function textValue(v: unknown): string {
  const s = typeof v === 'string' ? v : v instanceof Error ? v.message : JSON.stringify(v);
  return /[\s="]/.test(s ?? '') ? JSON.stringify(s) : String(s);
}

export function createLogger(opts: LoggerOptions = {}, base: Record<string, unknown> = {}): Logger {
  const level = opts.level ?? ((process.env.KPR_LOG_LEVEL as Level | undefined) || 'info');
  const format = opts.format ?? (process.env.KPR_LOG_FORMAT === 'json' ? 'json' : 'text');
  const write = opts.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const min = ORDER[level] ?? ORDER.info;
  const emit = (lvl: Level, msg: string, fields?: Record<string, unknown>): void => {
    if (ORDER[lvl] < min) return;
    const all = { ...base, ...fields };
    if (format === 'json') {
      const rec: Record<string, unknown> = { ts: new Date().toISOString(), level: lvl, msg };
      for (const [k, v] of Object.entries(all)) rec[k] = v instanceof Error ? v.message : v;
      write(JSON.stringify(rec));
    } else {
      const kv = Object.entries(all)
        .map(([k, v]) => `${k}=${textValue(v)}`)
        .join(' ');
      write(`${new Date().toISOString()} ${lvl.toUpperCase()} ${msg}${kv ? ' ' + kv : ''}`);
    }
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger({ level, format, write }, { ...base, ...fields }),
  };
}

/** A logger that records lines in memory, for tests. */
export function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const log = createLogger({ level: 'debug', format: 'json', write: (l) => lines.push(l) });
  return Object.assign(log, { lines });
}
