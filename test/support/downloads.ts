// Assertions shared by the downloader's tests.
import assert from 'node:assert/strict';
import { DownloadError } from '../../src/registry/download/errors.ts';

/** The DownloadError `work` fails with; fails the test when it succeeds or throws anything else. */
export async function downloadFailure(work: Promise<unknown>): Promise<DownloadError> {
  try {
    await work;
  } catch (err) {
    assert.ok(err instanceof DownloadError, `expected a DownloadError, got ${String(err)}`);
    return err;
  }
  assert.fail('the download succeeded');
}
