// Shared by the stores reached with plain fetch (https files, the Hugging Face Hub): a GET of a byte range whose
// HTTP errors become DownloadErrors, and the check that a ranged answer starts where it was asked to.
import { classify, DownloadError, fromStatus } from '../errors.ts';

/** GET `url` from byte `start`; returns the body. A 200 to a ranged request is accepted only from 0. */
export async function fetchRange(url: string, start: number, headers: Record<string, string>, signal: AbortSignal, what: string): Promise<AsyncIterable<Uint8Array>> {
  let res: Response;
  try {
    res = await fetch(url, { headers: { ...headers, ...(start > 0 ? { range: `bytes=${start}-` } : {}) }, signal, redirect: 'follow' });
  } catch (err) {
    if (signal.aborted) throw signal.reason;
    throw classify(err, what);
  }
  if (!res.ok) {
    await res.body?.cancel().catch(() => {});
    throw fromStatus(res.status, what);
  }
  if (start > 0 && res.status !== 206) {
    await res.body?.cancel().catch(() => {});
    throw new DownloadError('StoreUnreachable', `${what}: the server ignored the Range request (HTTP ${res.status}); cannot resume`);
  }
  if (res.body === null) throw new DownloadError('StoreUnreachable', `${what}: empty response`);
  return res.body as unknown as AsyncIterable<Uint8Array>;
}
