// `scheduling` sections (ModelServer, ModelRoute override) compiled into profiles when the routing table is built.
//
// Policies and their scorers (weight):
//   default           ttft 4, lora-affinity 2 (+ session-affinity 10 when `sessionAffinity` is set); highest
//                     score, ties to the least recently picked pod. The TTFT scorer (ttft.ts) weighs prefix-cache
//                     affinity against queued prefill work in one estimate, in tokens rather than requests: a
//                     100k-token prompt waiting on a pod counts for what it is. It replaced prefix-cache 3 (load
//                     guard) + queue 1, which counted requests and hashed only a prompt's first 16 KiB (README).
//                     No kv-cache or least-request: among pods with as much work ahead of the first token, fewer
//                     requests in flight or less KV in use mostly means the pod's pending request arrived last,
//                     i.e. has the most prefill left, so those scorers lengthened time to first token.
//   prefix-affinity   prefix-cache 3 (load guard), least-request 1
//   session-affinity  session-affinity 10 (header default x-session-id; a cookie too when `sessionAffinity.cookie`
//                     names one), least-request 1
//   least-request     least-request 1 (the gateway's in-flight count per pod)
//   round-robin       none (every pod ties; the picker takes the least recently picked: a rotation)
//   random            none, random picker
// `scorers` replaces the policy's list. Identical sections compile to the same profile object, so scratch buffers
// survive table rebuilds.
import type { SchedulingSpec } from '../../api/kinds/modelserver.ts';
import type { Scorer } from './types.ts';
import { makeProfile, type PdState, type SchedulingProfile, type ServerScheduling } from './scheduler.ts';
import type { Endpoint } from './endpoint.ts';
import { GROUP_INDEX_LABEL } from '../../api/labels.ts';
import { LeastOutstandingScorer } from './least-outstanding.ts';
import { MaxScoreRoundRobinPicker, RandomPicker } from './pickers.ts';
import { DEFAULT_PREFIX_CONFIG, PrefixCacheScorer, type PrefixConfig } from './prefix.ts';
import { TtftScorer } from './ttft.ts';
import { KvCacheScorer, LoraAffinityScorer, QueueScorer, RunningScorer, SessionAffinityScorer } from './scorers.ts';

export type PolicyName = NonNullable<SchedulingSpec['policy']>;
export type ScorerName = NonNullable<SchedulingSpec['scorers']>[number]['name'];

export const DEFAULT_SESSION_HEADER = 'x-session-id';

const POLICY_SCORERS: Record<PolicyName, Array<[ScorerName, number]>> = {
  default: [
    ['ttft', 4],
    ['lora-affinity', 2],
  ],
  'prefix-affinity': [
    ['prefix-cache', 3],
    ['least-request', 1],
  ],
  'session-affinity': [
    ['session-affinity', 10],
    ['least-request', 1],
  ],
  'least-request': [['least-request', 1]],
  'round-robin': [],
  random: [],
};

export function prefixConfigOf(spec: SchedulingSpec | undefined): PrefixConfig {
  const p = spec?.prefixCache;
  const guard = p?.loadGuard;
  const guardOn = guard?.enabled !== false;
  return {
    blockChars: p?.blockChars ?? DEFAULT_PREFIX_CONFIG.blockChars,
    maxBlocks: p?.maxBlocks ?? DEFAULT_PREFIX_CONFIG.maxBlocks,
    capacityBlocks: p?.capacityBlocks ?? DEFAULT_PREFIX_CONFIG.capacityBlocks,
    guardAbsolute: guardOn ? (guard?.absolute ?? DEFAULT_PREFIX_CONFIG.guardAbsolute) : Infinity,
    guardRelative: guardOn ? (guard?.relative ?? DEFAULT_PREFIX_CONFIG.guardRelative) : Infinity,
  };
}

function makeScorer(name: ScorerName, weight: number, spec: SchedulingSpec | undefined): Scorer {
  switch (name) {
    case 'ttft':
      return new TtftScorer(weight, prefixConfigOf(spec));
    case 'prefix-cache':
      return new PrefixCacheScorer(weight, prefixConfigOf(spec));
    case 'queue':
      return new QueueScorer(weight);
    case 'running':
      return new RunningScorer(weight);
    case 'kv-cache':
      return new KvCacheScorer(weight);
    case 'least-request':
      return new LeastOutstandingScorer(weight);
    case 'lora-affinity':
      return new LoraAffinityScorer(weight);
    case 'session-affinity':
      return new SessionAffinityScorer(weight, spec?.sessionAffinity?.header ?? DEFAULT_SESSION_HEADER, spec?.sessionAffinity?.cookie);
  }
}

/** Compile a `scheduling` section (undefined = the default policy). */
export function compileProfile(spec: SchedulingSpec | undefined): SchedulingProfile {
  const policy: PolicyName = spec?.policy ?? 'default';
  let list: Array<[ScorerName, number]>;
  if (spec?.scorers !== undefined) {
    list = spec.scorers.map((s) => [s.name, s.weight ?? 1]);
  } else {
    list = [...POLICY_SCORERS[policy]];
    if (policy === 'default' && spec?.sessionAffinity !== undefined) list.unshift(['session-affinity', 10]);
  }
  const scorers = list.filter(([, w]) => w > 0).map(([name, w]) => makeScorer(name, w, spec));
  return makeProfile(policy, { scorers, picker: policy === 'random' ? new RandomPicker() : new MaxScoreRoundRobinPicker() });
}

const cache = new Map<string, SchedulingProfile>();
const CACHE_LIMIT = 512;

/** `compileProfile`, shared between identical sections. */
export function profileFor(spec: SchedulingSpec | undefined): SchedulingProfile {
  const key = spec === undefined ? '' : JSON.stringify(spec);
  let p = cache.get(key);
  if (p === undefined) {
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(key, (p = compileProfile(spec)));
  }
  return p;
}

/** The parts of a ModelServer spec scheduling reads. */
export interface ServerSchedulingSpec {
  scheduling?: SchedulingSpec;
  pdDisaggregation?: { prefillRole?: string; decodeRole?: string; groupLabel?: string };
}

/**
 * Scheduling state of one ModelServer for a table build. Without P/D, every ready pod is schedulable. With P/D,
 * the schedulable endpoints are the decode pods whose group has a ready prefill pod; prefill pods are kept by group.
 */
export function buildServerScheduling(
  spec: ServerSchedulingSpec,
  endpoints: Endpoint[],
  problems: string[],
  key: string,
): { endpoints: Endpoint[]; scheduling: ServerScheduling } {
  const profile = profileFor(spec.scheduling);
  const pdSpec = spec.pdDisaggregation;
  if (pdSpec === undefined) return { endpoints, scheduling: { profile, endpoints, pd: null } };
  const pd: PdState = {
    prefillRole: pdSpec.prefillRole || 'prefill',
    decodeRole: pdSpec.decodeRole || 'decode',
    groupLabel: pdSpec.groupLabel || GROUP_INDEX_LABEL,
    prefillByGroup: new Map(),
    prefillCursor: { rr: 0 },
  };
  const decode: Endpoint[] = [];
  for (const ep of endpoints) {
    if (ep.role === pd.prefillRole) {
      const g = ep.group;
      let list = pd.prefillByGroup.get(g);
      if (list === undefined) pd.prefillByGroup.set(g, (list = []));
      list.push(ep);
    }
  }
  let orphans = 0;
  for (const ep of endpoints) {
    if (ep.role !== pd.decodeRole) continue;
    if (pd.prefillByGroup.has(ep.group)) decode.push(ep);
    else orphans++;
  }
  if (orphans > 0) problems.push(`ModelServer ${key}: ${orphans} decode pod(s) without a ready prefill pod in their group are not used`);
  return { endpoints: decode, scheduling: { profile, endpoints: decode, pd } };
}
