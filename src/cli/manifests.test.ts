import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readManifests } from './manifests.ts';

test('multi-document files are read in order, empty documents skipped', () => {
  const dir = mkdtempSync(join(tmpdir(), 'manifests-'));
  try {
    const file = join(dir, 'a.yaml');
    writeFileSync(file, 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: one\n---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: two\n');
    assert.deepEqual(readManifests([file]).map((m) => m.object.metadata.name), ['one', 'two']);
    assert.equal(readManifests([dir]).length, 2, 'a directory reads its YAML files');
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('every shape problem is reported with its document, and nothing is returned', () => {
  const dir = mkdtempSync(join(tmpdir(), 'manifests-'));
  try {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'kind: Model\nmetadata:\n  name: x\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {}\n---\nfoo: [unclosed\n');
    assert.throws(() => readManifests([file]), (error: Error) => {
      assert.match(error.message, /bad\.yaml#1: apiVersion: Required value/);
      assert.match(error.message, /bad\.yaml#2: metadata\.name: Required value/);
      assert.match(error.message, /bad\.yaml#3: invalid YAML/);
      return true;
    });
  } finally {
    rmSync(dir, { recursive: true });
  }
});
