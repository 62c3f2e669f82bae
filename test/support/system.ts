// System programs that some tests and benchmarks need and a machine with only Node.js and npm lacks (redis-server,
// curl, kubectl, nginx, openssl, prometheus, chromium; grpcurl, Triton's Python client, Jaeger (the OTLP receiver of the
// tracing tests) and the routing benchmark's peer routers (sglang-router, vllm-router), which the project's scripts build or install into ~/.cache/matrixinfer/, where the tests find
// them), and the onnx cache embedder's test model (scripts/onnx-embedder.sh, same place) with onnxruntime-node (an
// optional npm dependency). Rules:
// - Where one is missing, the test is skipped with one visible line naming the program and what installs it;
//   never failed, never skipped silently.
// - Under MATRIXINFER_REQUIRE_ALL=1 (set by .ci/run, which installs them all) a missing program is an error, so CI
//   always runs everything.
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { homedir } from 'node:os';
import { delimiter, isAbsolute, join } from 'node:path';

/** The programs, each with the command that brings it on Debian (what .ci/run installs). */
export const SYSTEM_PROGRAMS = {
  'redis-server': 'apt-get install redis-server',
  curl: 'apt-get install curl',
  kubectl: 'apt-get install kubernetes-client',
  nginx: 'apt-get install nginx',
  openssl: 'apt-get install openssl',
  prometheus: 'apt-get install prometheus',
  chromium: 'apt-get install chromium',
  grpcurl: 'bash scripts/grpcurl.sh',
  tritonclient: 'bash scripts/python-clients.sh',
  jaeger: 'bash scripts/jaeger.sh',
  moto: 'bash scripts/store-emulators.sh',
  azurite: 'bash scripts/store-emulators.sh',
  'fake-gcs-server': 'bash scripts/store-emulators.sh',
  'sglang-router': 'bash scripts/peer-routers.sh',
  'vllm-router': 'bash scripts/peer-routers.sh',
} as const;
export type SystemProgram = keyof typeof SYSTEM_PROGRAMS;

/** Where a program may live outside PATH (Debian's nginx sits in /usr/sbin, often not on a user's PATH). */
const EXTRA_DIRS = ['/usr/sbin', '/usr/local/sbin', '/sbin'];

const found = new Map<string, string | undefined>();

/** The absolute path of `program` (PATH first, then the sbin directories), or undefined. */
export function findProgram(program: string): string | undefined {
  if (found.has(program)) return found.get(program);
  const candidates = isAbsolute(program)
    ? [program]
    : [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...EXTRA_DIRS].map((dir) => join(dir, program));
  let path: string | undefined;
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      path = candidate;
      break;
    } catch {
      // not here
    }
  }
  found.set(program, path);
  return path;
}

export const requireAll = (): boolean => process.env.MATRIXINFER_REQUIRE_ALL === '1';

/** Why a test that needs `program` cannot run here, or undefined when it can. */
export function missingReason(program: SystemProgram, binary: string = program): string | undefined {
  if (findProgram(binary) !== undefined) return undefined;
  return `needs ${program}, not found on this machine (${SYSTEM_PROGRAMS[program]} enables it)`;
}

/**
 * The `skip` option for a node:test `test`/`describe` that needs `programs`: false when all are there, else the
 * reason, which the runner prints on the skipped line. Throws under MATRIXINFER_REQUIRE_ALL=1 instead of skipping.
 * `binary` overrides where to look for one (e.g. `REDIS_SERVER=/opt/redis/bin/redis-server`).
 */
export function needs(...programs: Array<SystemProgram | [SystemProgram, string]>): string | false {
  for (const entry of programs) {
    const [program, binary] = Array.isArray(entry) ? entry : [entry, entry];
    const reason = missingReason(program, binary);
    if (reason === undefined) continue;
    if (requireAll()) throw new Error(`MATRIXINFER_REQUIRE_ALL=1: a test ${reason}`);
    return reason;
  }
  return false;
}

/** A version a script of the project pins (`NAME=value` in scripts/<script>), so tests look where it installs. */
export function scriptVersion(script: string, name: string): string {
  const text = readFileSync(new URL(`../../scripts/${script}`, import.meta.url), 'utf8');
  const m = new RegExp(`^${name}=(\\S+)$`, 'm').exec(text);
  if (m === null) throw new Error(`scripts/${script} sets no ${name}`);
  return m[1]!;
}

/** Where scripts/grpcurl.sh puts grpcurl (`MATRIXINFER_GRPCURL` overrides). */
export function grpcurlPath(): string {
  const cache = process.env.MATRIXINFER_GRPCURL_CACHE ?? join(homedir(), '.cache/matrixinfer/grpcurl');
  return process.env.MATRIXINFER_GRPCURL ?? join(cache, scriptVersion('grpcurl.sh', 'GRPCURL_VERSION'), 'grpcurl');
}

/** The python of the virtualenv scripts/python-clients.sh makes, with tritonclient (`MATRIXINFER_TRITON_PYTHON` overrides). */
export function tritonPython(): string {
  const cache = process.env.MATRIXINFER_PYTHON_CLIENTS_CACHE ?? join(homedir(), '.cache/matrixinfer/python-clients');
  return process.env.MATRIXINFER_TRITON_PYTHON ?? join(cache, `tritonclient-${scriptVersion('python-clients.sh', 'TRITONCLIENT_VERSION')}`, 'bin/python');
}

/** Where scripts/jaeger.sh puts Jaeger v2 (`MATRIXINFER_JAEGER` overrides). */
export function jaegerPath(): string {
  const cache = process.env.MATRIXINFER_JAEGER_CACHE ?? join(homedir(), '.cache/matrixinfer/bin');
  return process.env.MATRIXINFER_JAEGER ?? join(cache, `jaeger-${scriptVersion('jaeger.sh', 'JAEGER_VERSION')}`, 'jaeger');
}

/**
 * Where scripts/onnx-embedder.sh puts the onnx embedder's test model (the static embedder's WordLlama weights as an
 * ONNX graph; tokenizer.json beside it): keyed, as the script keys it, by a hash of the asset and the builder
 * (`MATRIXINFER_ONNX_EMBEDDER_CACHE` moves the cache, as it does for the script).
 */
export function onnxEmbedderModel(): string {
  const root = new URL('../../', import.meta.url);
  const hash = createHash('sha256');
  for (const file of ['assets/embedder/wordllama-l2-128.bin', 'assets/embedder/tokenizer.json.gz', 'scripts/build-onnx-embedder.py']) hash.update(readFileSync(new URL(file, root)));
  const cache = process.env.MATRIXINFER_ONNX_EMBEDDER_CACHE ?? join(homedir(), '.cache/matrixinfer/onnx-embedder');
  return join(cache, `wordllama-l2-128-${hash.digest('hex').slice(0, 12)}`, 'model.onnx');
}

/**
 * The `skip` option for a test of the onnx embedder: false when onnxruntime-node is installed and the test model is
 * built, else the reason (what enables it); under MATRIXINFER_REQUIRE_ALL=1 an error instead.
 */
export function needsOnnxEmbedder(): string | false {
  let reason: string | undefined;
  try {
    import.meta.resolve('onnxruntime-node');
  } catch {
    reason = 'needs onnxruntime-node, not installed (an optional dependency: npm ci installs it)';
  }
  if (reason === undefined && !existsSync(onnxEmbedderModel())) reason = `needs the onnx embedder's test model, not built (bash scripts/onnx-embedder.sh enables it)`;
  if (reason === undefined) return false;
  if (requireAll()) throw new Error(`MATRIXINFER_REQUIRE_ALL=1: a test ${reason}`);
  return reason;
}
