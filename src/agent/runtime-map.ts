// Maps a container (image, command, args) to a host command the node agent can run. Pure: everything it needs to
// know about the host (which executables exist, whether SGLang imports) comes in through `HostInfo`.
//
// Engine images (name contains `vllm` or `sglang`, or the repository is under `matrixinfer/`, the component images below excepted) run
//   - the real vLLM (`vllm serve <args> --host <podIP>`) when `vllm` is on PATH (vLLM images only),
//   - the real SGLang (`python3 -m sglang.launch_server <args> --host <podIP>`) when `import sglang` works,
//   - otherwise the project's simulated engine: `<node> <repo>/src/cli/main.ts engine <args> --host <podIP>`.
// The project's own component images (`matrixinfer/gateway`, `matrixinfer/controller-manager`: the Dockerfile's
// targets, the chart's images) run the `matrixinfer` command as their entry point would: `matrixinfer <args>`, the
// args defaulting to the image's CMD, with the listen address set to the pod IP (`--host <podIP>` for the gateway,
// `--webhook-host <podIP> --metrics-host <podIP>` for the controller manager).
// Any other image runs its `command` + `args` as a host process when the executable exists; otherwise the
// container cannot run here and waits with reason `ImageNotRunnable`.

export interface ContainerLike {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
}

export interface HostInfo {
  /** Is `name` (a bare name looked up on PATH, or a path) an executable on this host? */
  hasExecutable(name: string): boolean;
  /** Does `python3 -c "import sglang"` succeed? Only asked for SGLang images. */
  sglangAvailable(): boolean;
  /** Never use the real engines even when present (MATRIXINFER_ENGINE=simulated). */
  forceSimulated?: boolean;
}

export type EngineKind = 'vllm' | 'sglang';

export type RuntimePlan =
  | {
      runnable: true;
      /**
       * `vllm` / `sglang`: the real engine; `simulated`: the project's engine; `gateway` / `controller-manager`: that
       * `matrixinfer` component; `host`: the container's own command.
       */
      kind: 'vllm' | 'sglang' | 'simulated' | ComponentKind | 'host';
      command: string;
      args: string[];
    }
  | { runnable: false; reason: 'ImageNotRunnable'; message: string };

export interface RuntimeMapOptions {
  podIP: string;
  host: HostInfo;
  /** Builds the simulated engine's command line from the engine CLI arguments (which end with `--host <podIP>`). */
  engineCommand: (args: string[]) => { command: string; args: string[] };
  /** Builds a `matrixinfer <args>` command line (component images); without it those images are not runnable. */
  matrixinferCommand?: (args: string[]) => { command: string; args: string[] };
  /** Environment for `$(VAR)` expansion in command and args (the container's own env, as Kubernetes does). */
  env?: Record<string, string>;
  /** Container paths (mount paths of hostPath volumes) and the host directories they are here (`mountPaths`). */
  paths?: readonly PathMapping[];
}

export interface PathMapping {
  container: string;
  host: string;
}

/**
 * Where a pod's hostPath volumes are on this host: the agent runs containers as host processes, so a path the
 * container would see under a mount is rewritten to the host directory. Only hostPaths under /var/lib/matrixinfer/
 * (the node's model cache, src/registry/contract.ts) are mapped, to `<home>/…`; other volumes are not emulated.
 */
export function mountPaths(
  volumes: readonly { name: string; hostPath?: { path: string } }[] | undefined,
  mounts: readonly { name: string; mountPath: string }[] | undefined,
  home: string,
): PathMapping[] {
  const out: PathMapping[] = [];
  for (const mount of mounts ?? []) {
    const path = volumes?.find((v) => v.name === mount.name)?.hostPath?.path;
    const match = path && /^\/var\/lib\/matrixinfer\/(.+)$/.exec(path.replace(/\/+$/, ''));
    if (match) out.push({ container: mount.mountPath.replace(/\/+$/, ''), host: `${home}/${match[1]}` });
  }
  return out;
}

/** A word with a mapped container path (alone, after `=`, or as a prefix of a longer path) rewritten. */
export function mapPath(word: string, paths: readonly PathMapping[] | undefined): string {
  if (!paths || paths.length === 0) return word;
  for (const { container, host } of paths) {
    const at = word.indexOf(container);
    if (at < 0 || (at > 0 && word[at - 1] !== '=')) continue;
    const next = word[at + container.length];
    if (next === undefined || next === '/') return word.slice(0, at) + host + word.slice(at + container.length);
  }
  return word;
}

/** Repository path of an image reference without registry host, tag or digest: `ghcr.io/a/b:1` → `a/b`. */
export function imageRepository(image: string): string {
  let ref = image.trim();
  const at = ref.indexOf('@');
  if (at >= 0) ref = ref.slice(0, at);
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  if (colon > slash) ref = ref.slice(0, colon);
  const parts = ref.split('/');
  const first = parts[0] ?? '';
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost')) parts.shift();
  return parts.join('/').toLowerCase();
}

/** A component is named by its `matrixinfer` subcommand. */
export type ComponentKind = 'gateway' | 'controller-manager' | 'download';
const COMPONENT_KINDS: ReadonlySet<string> = new Set<ComponentKind>(['gateway', 'controller-manager', 'download']);

/** The project's component images and the CMD their Dockerfile target gives (deploy/docker/Dockerfile). */
const COMPONENT_IMAGES: Record<string, { kind: ComponentKind; cmd: string[] }> = {
  'matrixinfer/gateway': { kind: 'gateway', cmd: ['gateway', '--host=0.0.0.0', '--port=8080'] },
  'matrixinfer/controller-manager': { kind: 'controller-manager', cmd: ['controller-manager', '--health-port=8081'] },
  // The model download init step (src/registry/contract.ts): its args are given in full by the Model controller.
  'matrixinfer/downloader': { kind: 'download', cmd: ['download'] },
};

/** Which `matrixinfer` component an image runs, or undefined when it is none of them. */
export function componentOfImage(image: string | undefined): ComponentKind | undefined {
  return image ? COMPONENT_IMAGES[imageRepository(image)]?.kind : undefined;
}

/** Which engine an image runs, or undefined when it is not an engine image (the component images are not). */
export function engineKindOfImage(image: string | undefined): EngineKind | undefined {
  if (!image) return undefined;
  const repo = imageRepository(image);
  if (repo.includes('sglang')) return 'sglang';
  if (repo.includes('vllm')) return 'vllm';
  if (repo.startsWith('matrixinfer/') && !COMPONENT_IMAGES[repo]) return 'vllm';
  return undefined;
}

/** Kubernetes' `$(VAR)` expansion: known variables are replaced, `$$` escapes, unknown references stay as written. */
export function expandVars(s: string, env: Record<string, string>): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '$' && i + 1 < s.length) {
      const n = s[i + 1];
      if (n === '$') {
        out += '$';
        i++;
        continue;
      }
      if (n === '(') {
        const end = s.indexOf(')', i + 2);
        if (end > 0) {
          const name = s.slice(i + 2, end);
          if (Object.hasOwn(env, name)) {
            out += env[name];
            i = end;
            continue;
          }
        }
      }
    }
    out += c;
  }
  return out;
}

/** Splits a simple shell command line into words (quotes and backslashes; no expansion). */
export function shellWords(script: string): string[] {
  const words: string[] = [];
  let cur = '';
  let has = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < script.length; i++) {
    const c = script[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < script.length) cur += script[++i];
      else cur += c;
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      has = true;
    } else if (c === '\\' && i + 1 < script.length) {
      const n = script[++i];
      if (n !== '\n') cur += n;
      has = true;
    } else if (/\s/.test(c)) {
      if (has) words.push(cur);
      cur = '';
      has = false;
    } else {
      cur += c;
      has = true;
    }
  }
  if (has) words.push(cur);
  return words;
}

const SHELLS = new Set(['sh', 'bash', '/bin/sh', '/bin/bash', '/usr/bin/sh', '/usr/bin/bash', 'dash', 'ash']);
const PYTHONS = /^(\/usr\/bin\/|\/usr\/local\/bin\/)?python(3(\.\d+)?)?$/;

interface EngineInvocation {
  kind: EngineKind;
  /** Arguments after the engine's entry point (`vllm serve`, `python3 -m …`), as given. */
  args: string[];
  /** Whether the engine's entry point was found in the words (false: the words were arguments only). */
  explicit: boolean;
}

/** Finds the engine's entry point in a list of words and returns what follows it. */
function findEngineInvocation(words: string[]): EngineInvocation | undefined {
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    const base = w.split('/').pop()!;
    if (base === 'vllm' && words[i + 1] === 'serve') return { kind: 'vllm', args: words.slice(i + 2), explicit: true };
    if (PYTHONS.test(w) && words[i + 1] === '-m') {
      const mod = words[i + 2] ?? '';
      if (mod.startsWith('vllm.entrypoints')) return { kind: 'vllm', args: words.slice(i + 3), explicit: true };
      if (mod.startsWith('sglang.launch_server') || mod === 'sglang')
        return { kind: 'sglang', args: words.slice(i + 3), explicit: true };
    }
  }
  return undefined;
}

/** The words a container runs: `sh -c "<script>"` is unwrapped (last segment of `a && b; c`) for engine images. */
function containerWords(command: string[], args: string[]): string[] {
  const words = [...command, ...args];
  if (words.length >= 3 && SHELLS.has(words[0]!) && words[1] === '-c') {
    const segments = words[2]!.split(/&&|\|\||;|\n/).map((s) => s.trim()).filter(Boolean);
    const interesting = segments.filter((s) => /vllm|sglang|serve/.test(s));
    const pick = interesting[interesting.length - 1] ?? segments[segments.length - 1] ?? '';
    return shellWords(pick.replace(/^exec\s+/, ''));
  }
  return words;
}

/** Translates SGLang's flags to the simulated engine's (vLLM's) and marks the engine as SGLang. */
export function translateSglangArgs(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const [flag, value] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    let mapped = flag;
    if (flag === '--model-path') mapped = '--model';
    else if (flag === '--tp' || flag === '--tp-size') mapped = '--tensor-parallel-size';
    else if (flag === '--dp' || flag === '--dp-size') mapped = '--data-parallel-size';
    if (value !== undefined) out.push(`${mapped}=${value}`);
    else out.push(mapped);
  }
  if (!out.some((a) => a === '--engine' || a.startsWith('--engine='))) out.push('--engine', 'sglang');
  return out;
}

/** Arguments for the simulated engine: from the first flag or model name on; engine flags translated. */
export function simulatedEngineArgs(kind: EngineKind, args: string[], podIP: string): string[] {
  const engineArgs = kind === 'sglang' ? translateSglangArgs(args) : [...args];
  return [...engineArgs, '--host', podIP];
}

/** The pod-IP listen flags each component gets last (later flags win), so pods on one node do not collide. */
const LISTEN_FLAGS: Record<ComponentKind, string[]> = { gateway: ['--host'], 'controller-manager': ['--webhook-host', '--metrics-host'], download: [] };

/**
 * A component image's container as its entry point (`matrixinfer`) would run it: `args` replace the image's CMD;
 * a `command` (replacing the entry point) is followed from the component's subcommand on; args that are only flags
 * get the component's subcommand in front.
 */
function planComponent(kind: ComponentKind, image: string, command: string[], args: string[], opts: RuntimeMapOptions): RuntimePlan {
  if (!opts.matrixinferCommand) {
    return { runnable: false, reason: 'ImageNotRunnable', message: `image "${image}" runs matrixinfer ${kind}, which this node cannot start` };
  }
  let words: string[];
  if (command.length > 0) {
    const all = [...command, ...args];
    const at = all.findIndex((w) => COMPONENT_KINDS.has(w));
    if (at < 0) {
      return { runnable: false, reason: 'ImageNotRunnable', message: `image "${image}": its command names no matrixinfer component (${[...COMPONENT_KINDS].join(', ')})` };
    }
    words = all.slice(at);
  } else {
    words = args.length > 0 ? args : COMPONENT_IMAGES[imageRepository(image)]!.cmd;
    if (words.length === 0 || words[0]!.startsWith('-')) words = [kind, ...words];
  }
  const ran = COMPONENT_KINDS.has(words[0]!) ? (words[0] as ComponentKind) : kind;
  const cli = opts.matrixinferCommand([...words, ...LISTEN_FLAGS[ran].flatMap((flag) => [flag, opts.podIP])]);
  return { runnable: true, kind: ran, command: cli.command, args: cli.args };
}

export function planContainer(container: ContainerLike, opts: RuntimeMapOptions): RuntimePlan {
  const env = opts.env ?? {};
  const command = (container.command ?? []).map((s) => mapPath(expandVars(s, env), opts.paths));
  const args = (container.args ?? []).map((s) => mapPath(expandVars(s, env), opts.paths));
  const image = container.image ?? '';
  const component = componentOfImage(image);
  if (component) return planComponent(component, image, command, args, opts);
  const imageKind = engineKindOfImage(image);

  if (imageKind) {
    const words = containerWords(command, args);
    let inv = findEngineInvocation(words);
    if (!inv) {
      let rest = words;
      if (rest[0] === 'serve') {
        // `serve …` after an image entry point of `vllm`.
        rest = rest.slice(1);
      } else if (command.length > 0) {
        // An unrecognised wrapper: keep the engine flags (from the first flag on).
        const firstFlag = rest.findIndex((w) => w.startsWith('-'));
        rest = firstFlag >= 0 ? rest.slice(firstFlag) : [];
      }
      inv = { kind: imageKind, args: rest, explicit: false };
    }
    const kind = imageKind === 'sglang' || inv.kind === 'sglang' ? 'sglang' : 'vllm';
    if (!opts.host.forceSimulated) {
      if (kind === 'vllm' && opts.host.hasExecutable('vllm')) {
        return { runnable: true, kind: 'vllm', command: 'vllm', args: ['serve', ...inv.args, '--host', opts.podIP] };
      }
      if (kind === 'sglang' && opts.host.hasExecutable('python3') && opts.host.sglangAvailable()) {
        return {
          runnable: true,
          kind: 'sglang',
          command: 'python3',
          args: ['-m', 'sglang.launch_server', ...inv.args, '--host', opts.podIP],
        };
      }
    }
    const sim = opts.engineCommand(simulatedEngineArgs(kind, inv.args, opts.podIP));
    return { runnable: true, kind: 'simulated', command: sim.command, args: sim.args };
  }

  const words = [...command, ...args];
  if (command.length === 0) {
    return {
      runnable: false,
      reason: 'ImageNotRunnable',
      message: `image "${image}" has no local runtime: not an engine image (vllm, sglang, matrixinfer/*) and the container sets no command to run as a host process`,
    };
  }
  const exe = words[0]!;
  if (!opts.host.hasExecutable(exe)) {
    return {
      runnable: false,
      reason: 'ImageNotRunnable',
      message: `image "${image}" has no local runtime: its command "${exe}" is not an executable on this host`,
    };
  }
  return { runnable: true, kind: 'host', command: exe, args: words.slice(1) };
}

/** How long simulated engines run by the local node agent take to load by default, seconds (README.md: the quickstart). */
export const LOCAL_ENGINE_STARTUP_SECONDS = 2;

/**
 * The simulated engine's command line with `--startup-seconds <seconds>` appended unless the pod's args set it;
 * `profile` leaves the engine's own default (its profile's estimated cold start).
 */
export function withEngineStartup(
  engineCommand: (args: string[]) => { command: string; args: string[] },
  seconds: number | 'profile',
): (args: string[]) => { command: string; args: string[] } {
  if (seconds === 'profile') return engineCommand;
  return (args) => {
    const given = args.some((a) => /^--startup[-_]seconds(=|$)/.test(a));
    return engineCommand(given ? args : [...args, '--startup-seconds', String(seconds)]);
  };
}
