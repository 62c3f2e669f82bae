// One logger for every component of the platform (controllers, webhooks, API server, gateway, node agent, engine):
// JSON lines on stderr with the same fields everywhere, so one query reads them all —
//   {"time":"2026-12-02T14:00:00.000Z","level":"info","component":"controller-manager/autoscaler","msg":"...", ...fields}
// Fields follow `msg` in the order given; an Error becomes its message; undefined fields are left out. Level from
// $MATRIXINFER_LOG_LEVEL (debug, info, warn, error, silent; default info). With tracing on (kube/tracing.ts), a line
// written inside a span has `trace_id` and `span_id` after `msg`.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  child(component: string): Logger;
}

function envLevel(): LogLevel {
  const value = (process.env.MATRIXINFER_LOG_LEVEL ?? 'info').toLowerCase();
  return value in ORDER ? (value as LogLevel) : 'info';
}

/** The active span's ids, set by kube/tracing-sdk.ts while tracing is on; null otherwise. */
let logContext: (() => Record<string, string> | undefined) | null = null;

/** Set (or clear, with null) where log lines find the active span's `trace_id` and `span_id`. */
export function setLogContext(ids: (() => Record<string, string> | undefined) | null): void {
  logContext = ids;
}

/** One record as its JSON line (without the newline). */
export function formatRecord(level: Exclude<LogLevel, 'silent'>, component: string, msg: string, fields?: Record<string, unknown>, time = new Date()): string {
  const record: Record<string, unknown> = { time: time.toISOString(), level, component, msg };
  if (logContext !== null) Object.assign(record, logContext());
  if (fields) {
    for (const [k, v] of Object.entries(fields)) {
      if (v === undefined || k in record) continue;
      record[k] = v instanceof Error ? v.message : v;
    }
  }
  return JSON.stringify(record);
}

/** Write one record to stderr: for components that log a line without a Logger of their own (engine, gateway). */
export function writeRecord(level: Exclude<LogLevel, 'silent'>, component: string, msg: string, fields?: Record<string, unknown>): void {
  process.stderr.write(formatRecord(level, component, msg, fields) + '\n');
}

export function createLogger(component: string, level: LogLevel = envLevel(), base?: Record<string, unknown>): Logger {
  const write = (at: Exclude<LogLevel, 'silent'>, message: string, fields?: Record<string, unknown>) => {
    if (ORDER[at] < ORDER[level]) return;
    writeRecord(at, component, message, base ? { ...base, ...fields } : fields);
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    child: (sub) => createLogger(`${component}/${sub}`, level, base),
  };
}

/**
 * A Logger over a sink that takes one line per record, for components whose own log is narrower (the node agent's
 * Logger, the gateway's `log` option): `component: msg (key=value, …)`, at the record's level.
 */
export function lineLogger(component: string, write: (level: Exclude<LogLevel, 'silent'>, line: string) => void): Logger {
  const line = (msg: string, fields?: Record<string, unknown>) => {
    const pairs = Object.entries(fields ?? {})
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${v instanceof Error ? v.message : typeof v === 'string' ? v : JSON.stringify(v)}`);
    return `${component}: ${msg}${pairs.length ? ` (${pairs.join(', ')})` : ''}`;
  };
  return {
    debug: (m, f) => write('debug', line(m, f)),
    info: (m, f) => write('info', line(m, f)),
    warn: (m, f) => write('warn', line(m, f)),
    error: (m, f) => write('error', line(m, f)),
    child: (sub) => lineLogger(`${component}/${sub}`, write),
  };
}

/** Message of an unknown thrown value, including the API server's Status message when there is one. */
export function errorMessage(err: unknown): string {
  if (err && typeof err === 'object') {
    const e = err as { code?: number; body?: unknown; message?: string };
    if (typeof e.code === 'number' && e.body !== undefined) {
      const body = typeof e.body === 'string' ? safeParse(e.body) : e.body;
      const message = (body as { message?: string } | undefined)?.message;
      if (message) return `${e.code}: ${message}`;
    }
    if (e.message) return e.message;
  }
  return String(err);
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { message: text.slice(0, 300) };
  }
}
