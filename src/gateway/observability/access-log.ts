// One JSON line per request, opening with the fields every component's log lines open with (kube/log.ts) so one
// query reads them all — level (error for a 5xx answer, else info), component "gateway/access", msg "request":
//   {"time","level","component","msg","request_id","trace_id","user","method","path","model","route","server","pod","status","duration_ms","ttfb_ms",
//    "upstream_status","attempts","wait_ms","prompt_tokens","completion_tokens","error"}
// `route`/`server`/`pod` are namespace/name (`pod`: the last attempt's); `ttfb_ms` is arrival → first upstream
// response body byte (null when nothing came back); `attempts` counts upstream attempts (retries included);
// tokens come from the engine's usage (null when it reported none); `error` is the gateway's error code (or
// upstream failure kind), null on success; `wait_ms` is the time the request was held waiting for its ModelServer to
// start from zero replicas (activation/hold.ts), null when it was not held.

export const ACCESS_LOG_COMPONENT = 'gateway/access';

export interface AccessLogRecord {
  time: string;
  level: 'info' | 'error';
  component: typeof ACCESS_LOG_COMPONENT;
  msg: 'request';
  request_id: string;
  trace_id: string;
  /** The authenticated user (policy/traffic.ts), null when the ModelServer has no authentication. */
  user: string | null;
  method: string;
  path: string;
  model: string | null;
  route: string | null;
  server: string | null;
  pod: string | null;
  status: number;
  duration_ms: number;
  ttfb_ms: number | null;
  upstream_status: number | null;
  attempts: number;
  wait_ms: number | null;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  error: string | null;
}

/**
 * On the default stream (stderr) lines are batched: the requests finished in one event-loop turn go out in one
 * write (on `setImmediate`), so a busy gateway does not pay a write — a syscall, stderr being synchronous — per
 * request. A stream given by the caller gets each line as the request finishes (unless `batch` is set).
 */
export class AccessLog {
  readonly #out: NodeJS.WritableStream | null;
  #pending = '';
  #scheduled = false;
  readonly #flush = (): void => this.flush();
  readonly #batch: boolean;

  constructor(out: NodeJS.WritableStream | false | undefined, batch = out === undefined) {
    this.#out = out === false ? null : (out ?? process.stderr);
    this.#batch = batch;
  }

  get enabled(): boolean {
    return this.#out !== null;
  }

  write(record: AccessLogRecord): void {
    if (this.#out === null) return;
    const line = JSON.stringify(record) + '\n';
    if (!this.#batch) {
      try {
        this.#out.write(line);
      } catch {
        // A broken log stream must not break requests.
      }
      return;
    }
    this.#pending += line;
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#flush);
    }
  }

  /** Write the batched lines now. */
  flush(): void {
    this.#scheduled = false;
    const text = this.#pending;
    if (text === '' || this.#out === null) return;
    this.#pending = '';
    try {
      this.#out.write(text);
    } catch {
      // A broken log stream must not break requests.
    }
  }
}
