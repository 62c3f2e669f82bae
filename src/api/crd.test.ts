import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { renderCrds, CRD_DIR } from './generate.ts';
import { toStructural } from './crd.ts';
import { ALL_KINDS } from './kinds/index.ts';

test('the committed CRDs under deploy/crds are what `npm run generate` writes', () => {
  const rendered = renderCrds();
  const committed = readdirSync(CRD_DIR).filter((f) => f.endsWith('.yaml'));
  assert.deepEqual(committed.sort(), [...rendered.keys()].sort(), 'the set of CRD files differs: run npm run generate');
  for (const [file, content] of rendered) {
    assert.equal(readFileSync(join(CRD_DIR, file), 'utf8'), content, `${file} is stale: run npm run generate`);
  }
});

/** Walk a schema and report every place that a structural CRD schema forbids. */
function structuralProblems(schema: Record<string, unknown>, path: string, problems: string[]): void {
  const type = schema.type;
  const preserve = schema['x-kubernetes-preserve-unknown-fields'] === true;
  const intOrString = schema['x-kubernetes-int-or-string'] === true;
  if (type === undefined && !preserve && !intOrString) problems.push(`${path}: no type`);
  for (const forbidden of ['anyOf', 'oneOf', 'allOf', 'patternProperties', 'const', '$ref', '$id']) {
    if (forbidden in schema) problems.push(`${path}: ${forbidden}`);
  }
  if (schema.properties && schema.additionalProperties) problems.push(`${path}: properties and additionalProperties together`);
  for (const [name, sub] of Object.entries((schema.properties ?? {}) as Record<string, Record<string, unknown>>)) structuralProblems(sub, `${path}.${name}`, problems);
  if (schema.items) structuralProblems(schema.items as Record<string, unknown>, `${path}[]`, problems);
  if (typeof schema.additionalProperties === 'object') structuralProblems(schema.additionalProperties as Record<string, unknown>, `${path}{}`, problems);
}

test('every kind schema is structural (typed everywhere, no unions, maps as additionalProperties)', () => {
  for (const kind of ALL_KINDS) {
    const problems: string[] = [];
    structuralProblems(toStructural(kind.spec) as Record<string, unknown>, `${kind.kind}.spec`, problems);
    structuralProblems(toStructural(kind.status) as Record<string, unknown>, `${kind.kind}.status`, problems);
    assert.deepEqual(problems, []);
  }
});

test('toStructural drops TypeBox-only keys and keeps Kubernetes extensions', () => {
  const out = toStructural({ type: 'object', $id: 'x', additionalProperties: { type: 'string' }, 'x-kubernetes-map-type': 'atomic', examples: [1] });
  assert.deepEqual(out, { type: 'object', additionalProperties: { type: 'string' }, 'x-kubernetes-map-type': 'atomic' });
});
