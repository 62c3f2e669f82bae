import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DOWNLOAD_ANNOTATION, DOWNLOAD_CONTAINER } from '../../registry/contract.ts';
import { downloadPercent, modelDownload, podDownload, type PodLike } from './download-status.ts';

const pod = (name: string, report?: object, init?: NonNullable<NonNullable<PodLike['status']>['initContainerStatuses']>[number]['state']): PodLike => ({
  metadata: { name, ...(report ? { annotations: { [DOWNLOAD_ANNOTATION]: JSON.stringify(report) } } : {}) },
  ...(init ? { status: { initContainerStatuses: [{ name: DOWNLOAD_CONTAINER, state: init }] } } : {}),
});

test('one pod: its report, else what its init container state says', () => {
  assert.deepEqual(podDownload(pod('a', { phase: 'Downloading', bytesDone: 5, bytesTotal: 10 })), { phase: 'Downloading', bytesDone: 5, bytesTotal: 10 });
  assert.deepEqual(podDownload(pod('a', undefined, { waiting: {} })), { phase: 'Pending' });
  assert.deepEqual(podDownload(pod('a', undefined, { waiting: { reason: 'CreateContainerConfigError', message: 'secret "hf" not found' } })), {
    phase: 'Failed',
    reason: 'MissingCredentials',
    message: 'secret "hf" not found',
  });
  assert.deepEqual(podDownload(pod('a', undefined, { running: {} })), { phase: 'Downloading' });
  assert.deepEqual(podDownload(pod('a', undefined, { terminated: { exitCode: 0 } })), { phase: 'Complete' });
  assert.deepEqual(podDownload(pod('a', { phase: 'Downloading', bytesDone: 5 }, { terminated: { exitCode: 1, message: 'ChecksumMismatch: config.json: sha256 differs' } })), {
    phase: 'Failed',
    reason: 'ChecksumMismatch',
    message: 'config.json: sha256 differs',
  }, 'an exit code beats a stale report');
  assert.equal(podDownload(pod('a', undefined, { terminated: { exitCode: 137, reason: 'OOMKilled' } }))?.reason, 'DownloadFailed');
  assert.equal(podDownload({ metadata: { name: 'a', annotations: { [DOWNLOAD_ANNOTATION]: '{not json' } } }), undefined);
  assert.equal(podDownload(pod('a')), undefined);
});

test('over the pods: a failure wins, else the least advanced, Complete only when all are', () => {
  const slow = pod('b', { phase: 'Downloading', bytesDone: 10, bytesTotal: 100 });
  const fast = pod('a', { phase: 'Downloading', bytesDone: 90, bytesTotal: 100 });
  const done = pod('c', { phase: 'Complete', bytesDone: 100, bytesTotal: 100, path: '/m' });
  assert.equal(modelDownload([fast, slow, done])?.bytesDone, 10);
  assert.equal(downloadPercent(modelDownload([fast, slow, done])), 10);
  assert.deepEqual(modelDownload([done, done]), { phase: 'Complete', bytesDone: 100, bytesTotal: 100, path: '/m' });
  assert.equal(modelDownload([done, pod('d', { phase: 'Failed', reason: 'NotFound', message: 'no such bucket' })])?.reason, 'NotFound');
  assert.equal(modelDownload([{ ...slow, metadata: { ...slow.metadata, deletionTimestamp: 't' } }, fast])?.bytesDone, 90, 'a pod going away does not count');
  assert.equal(modelDownload([]), undefined);
  assert.equal(modelDownload([pod('w', { phase: 'Pending', message: 'waiting for the lock' }), slow])?.bytesDone, 10, 'a pod waiting on its node\'s download does not hide it');
  assert.equal(downloadPercent({ phase: 'Downloading' }), undefined, 'no total, no percentage');
});
