// The agent's log: the platform's one JSON-lines logger (src/kube/log.ts), component `agent`, the node in every
// record. Its interface is the agent's narrower one (a message, no fields), which tests implement in memory.
import { createLogger } from '../kube/log.ts';

export interface Logger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
  debug(msg: string): void;
}

export function stderrLogger(node: string, opts: { debug?: boolean; quiet?: boolean } = {}): Logger {
  const debug = opts.debug ?? /(^|,)(agent|\*)(,|$)/.test(process.env.MATRIXINFER_DEBUG ?? '');
  const log = createLogger('agent', debug ? 'debug' : opts.quiet ? 'warn' : 'info', { node });
  return {
    info: (m) => log.info(m),
    warn: (m) => log.warn(m),
    error: (m) => log.error(m),
    debug: (m) => log.debug(m),
  };
}
