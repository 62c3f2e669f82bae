// What the cache may do with one request: the client's `cache-control` (no-cache: do not look up, no-store: do not
// store, both: bypass) and whether its response may be stored at all.
//
// Not stored: error responses (status other than 200), `n > 1` (one entry would fix a sample of several), and a
// `temperature` above the route's bound (the client asked for variety). A request without `temperature` gets the
// engine's default, 1.0 for vLLM and SGLang, and is judged as such.

export interface CacheControl {
  noCache: boolean;
  noStore: boolean;
}

/** The request directives of a `cache-control` header (RFC 9111 §5.2.1; unknown directives ignored). */
export function parseCacheControl(header: string | undefined): CacheControl {
  const out = { noCache: false, noStore: false };
  if (!header) return out;
  for (const part of header.toLowerCase().split(',')) {
    const name = part.split('=')[0]!.trim();
    if (name === 'no-cache') out.noCache = true;
    else if (name === 'no-store') out.noStore = true;
  }
  return out;
}

export const ENGINE_DEFAULT_TEMPERATURE = 1;

export type NotStorable = 'n_above_1' | 'temperature' | 'status';

/** Why a request's response may never be stored (n, temperature), or undefined when it may. */
export function requestNotStorable(body: Record<string, unknown>, maxTemperature: number): NotStorable | undefined {
  if (typeof body.n === 'number' && body.n > 1) return 'n_above_1';
  if (typeof body.best_of === 'number' && body.best_of > 1) return 'n_above_1';
  const t = typeof body.temperature === 'number' ? body.temperature : ENGINE_DEFAULT_TEMPERATURE;
  if (t > maxTemperature) return 'temperature';
  return undefined;
}

/** Whether a response with this status may be stored. */
export const statusStorable = (status: number): boolean => status === 200;
