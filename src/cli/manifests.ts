// Reading manifests: files, directories or stdin (`-`), each possibly holding several YAML documents.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { KubeObject } from '../api/admission.ts';

export interface Manifest {
  /** Where it came from, for messages: `file.yaml#2`. */
  source: string;
  object: KubeObject;
}

function filesOf(path: string): string[] {
  if (path === '-') return ['-'];
  if (statSync(path).isDirectory()) {
    return readdirSync(path)
      .filter((f) => /\.(ya?ml|json)$/.test(f))
      .sort()
      .map((f) => join(path, f));
  }
  return [path];
}

/** Parse every document; throws one Error listing every problem found (so nothing is applied). */
export function readManifests(paths: string[]): Manifest[] {
  const manifests: Manifest[] = [];
  const problems: string[] = [];
  for (const file of paths.flatMap(filesOf)) {
    const text = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
    const documents = parseAllDocuments(text);
    documents.forEach((document, index) => {
      const source = `${file === '-' ? 'stdin' : file}#${index + 1}`;
      if (document.errors.length > 0) {
        problems.push(`${source}: invalid YAML: ${document.errors[0]!.message}`);
        return;
      }
      const value: unknown = document.toJS();
      if (value === null || value === undefined) return; // empty document between `---`
      const missing = shapeProblem(value);
      if (missing) problems.push(`${source}: ${missing}`);
      else manifests.push({ source, object: value as KubeObject });
    });
  }
  if (problems.length > 0) throw new Error(problems.join('\n'));
  return manifests;
}

function shapeProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || Array.isArray(value)) return 'a manifest must be a YAML mapping';
  const object = value as Record<string, unknown>;
  if (typeof object.apiVersion !== 'string' || object.apiVersion === '') return 'apiVersion: Required value';
  if (typeof object.kind !== 'string' || object.kind === '') return 'kind: Required value';
  const metadata = object.metadata as Record<string, unknown> | undefined;
  if (!metadata || typeof metadata !== 'object') return 'metadata: Required value';
  if (typeof metadata.name !== 'string' && typeof metadata.generateName !== 'string') return 'metadata.name: Required value: name or generateName is required';
  return undefined;
}
