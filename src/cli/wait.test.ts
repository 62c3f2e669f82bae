import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Model } from '../api/kinds/index.ts';
import { progressLine } from './wait.ts';

const withStatus = (status: Model['status']): Model => ({ apiVersion: 'registry.matrixinfer.ai/v1alpha1', kind: 'Model', metadata: { name: 'm' }, spec: {} as Model['spec'], status });

test('apply --wait draws a bar from status.download, and says why a Model failed', () => {
  const line = progressLine('m', withStatus({ phase: 'Pending', download: { phase: 'Downloading', bytesDone: 3 * 1024 ** 3, bytesTotal: 12 * 1024 ** 3, filesDone: 1, filesTotal: 4 } }), 20);
  assert.equal(line, 'model/m [#####---------------]  25% 3.0 GiB/12.0 GiB 1/4 files');
  assert.equal(progressLine('m', withStatus({ phase: 'Ready', download: { phase: 'Complete' } })), 'model/m Ready, artifacts ready');
  assert.equal(progressLine('m', withStatus({ phase: 'Ready', download: { phase: 'Failed', reason: 'StoreUnreachable' } })), 'model/m Ready, artifacts not fetched: StoreUnreachable');
  const failed = withStatus({ phase: 'Failed', conditions: [{ type: 'Ready', status: 'False', reason: 'UnsafeArtifact', message: 'model.bin: os.system', lastTransitionTime: 't' }] });
  assert.equal(progressLine('m', failed), 'model/m Failed: UnsafeArtifact (model.bin: os.system)');
  assert.equal(progressLine('m', undefined), 'model/m Pending');
});
