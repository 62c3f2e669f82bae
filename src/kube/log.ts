// A minimal leveled logger for the controller runtime. Level from $MATRIXINFER_LOG_LEVEL (debug, info, warn,
// error, silent; default info). One line per record: `time level [component] message key=value ...`.

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

function render(value: unknown): string {
  if (value instanceof Error) return JSON.stringify(value.message);
  if (typeof value === 'string') return /[\s"=]/.test(value) ? JSON.stringify(value) : value;
  return JSON.stringify(value);
}

export function createLogger(component: string, level: LogLevel = envLevel()): Logger {
  const write = (at: LogLevel, message: string, fields?: Record<string, unknown>) => {
    if (ORDER[at] < ORDER[level]) return;
    const extra = fields
      ? Object.entries(fields)
          .filter(([, v]) => v !== undefined)
          .map(([k, v]) => ` ${k}=${render(v)}`)
          .join('')
      : '';
    process.stderr.write(`${new Date().toISOString()} ${at.toUpperCase()} [${component}] ${message}${extra}\n`);
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    child: (sub) => createLogger(`${component}/${sub}`, level),
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
