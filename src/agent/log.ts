// The agent's log: the platform's one JSON-lines logger (src/kube/log.ts), component `agent`, the node in every
// record. Its interface is the agent's narrower one (a message, and the object it concerns as fields: kind,
// namespace, name, container), which tests implement in memory.
import { createLogger } from '../kube/log.ts';

type Fields = Record<string, unknown>;

export interface Logger {
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  debug(msg: string, fields?: Fields): void;
}

export function stderrLogger(node: string, opts: { debug?: boolean; quiet?: boolean } = {}): Logger {
  const debug = opts.debug ?? /(^|,)(agent|\*)(,|$)/.test(process.env.MATRIXINFER_DEBUG ?? '');
  const log = createLogger('agent', debug ? 'debug' : opts.quiet ? 'warn' : 'info', { node });
  return {
    info: (m, f) => log.info(m, f),
    warn: (m, f) => log.warn(m, f),
    error: (m, f) => log.error(m, f),
    debug: (m, f) => log.debug(m, f),
  };
}
