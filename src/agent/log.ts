// The agent's own log: one line per message on stderr, `time level agent[node]: message`.

export interface Logger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
  debug(msg: string): void;
}

export function stderrLogger(prefix: string, opts: { debug?: boolean; quiet?: boolean } = {}): Logger {
  const debug = opts.debug ?? /(^|,)(agent|\*)(,|$)/.test(process.env.MATRIXINFER_DEBUG ?? '');
  const write = (level: string, msg: string) => process.stderr.write(`${new Date().toISOString()} ${level} ${prefix}: ${msg}\n`);
  return {
    info: (m) => {
      if (!opts.quiet) write('INFO', m);
    },
    warn: (m) => write('WARN', m),
    error: (m) => write('ERROR', m),
    debug: (m) => {
      if (debug) write('DEBUG', m);
    },
  };
}
