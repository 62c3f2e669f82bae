// What scheduling knows about each endpoint, for the debug endpoint and tests (slice C's observability reads it).
import { performance } from 'node:perf_hooks';
import type { Endpoint } from './endpoint.ts';

export interface EndpointSchedulingView {
  pod: string;
  role: string;
  group: string;
  engine: string;
  inflight: number;
  /** Load as the prefix load guard sees it (scraped waiting + running corrected by in-flight, or in-flight when stale). */
  load: number;
  /** The gateway's requests here with no response byte yet (queued or prefilling), and the queue scorer's estimate. */
  awaitingFirstByte: number;
  queued: number;
  /** Prompt tokens ahead of a new request's first token (the TTFT scorer's queued work), and the pod's measured
   * prefill rate in tokens per second (null before a sample). */
  queuedTokens: number;
  prefillTokensPerSecond: number | null;
  fresh: boolean;
  metrics: { waiting: number; running: number; kvUsage: number | null; cacheTokens: number; loras: string[]; maxLoras: number; ageMs: number } | null;
  scrapeFailures: number;
  scrapeError: string | null;
  prefixBlocks: number;
  /** The exact index from the pod's KV events, when it publishes: its state, why not live, blocks, next sequence. */
  kvIndex: { phase: string; reason: string; blocks: number; next: number } | null;
  lastScore: number | null;
  lastScoredMsAgo: number | null;
  lastPickedMsAgo: number | null;
  picks: number;
}

export function schedulingView(ep: Endpoint, now = performance.now()): EndpointSchedulingView {
  const m = ep.metrics;
  return {
    pod: ep.podKey,
    role: ep.role,
    group: ep.group,
    engine: ep.engine,
    inflight: ep.inflight,
    load: ep.load(),
    awaitingFirstByte: ep.awaiting,
    queued: ep.queued(),
    queuedTokens: Math.round(ep.queuedWork()),
    prefillTokensPerSecond: ep.prefill.rate > 0 ? Math.round(ep.prefill.rate * 1000) : null,
    fresh: ep.fresh,
    metrics:
      m === null
        ? null
        : {
            waiting: m.waiting,
            running: m.running,
            kvUsage: Number.isNaN(m.kvUsage) ? null : m.kvUsage,
            cacheTokens: m.cacheTokens,
            loras: [...m.loras],
            maxLoras: m.maxLoras,
            ageMs: Math.round(now - m.at),
          },
    scrapeFailures: ep.scrapeFailures,
    scrapeError: ep.scrapeError || null,
    prefixBlocks: ep.prefix?.blocks ?? 0,
    kvIndex: ep.kvIndex === null ? null : { phase: ep.kvIndex.phase, reason: ep.kvIndex.reason, blocks: ep.kvIndex.size, next: ep.kvIndex.next },
    lastScore: ep.lastScoredAt > 0 ? ep.lastScore : null,
    lastScoredMsAgo: ep.lastScoredAt > 0 ? Math.round(now - ep.lastScoredAt) : null,
    lastPickedMsAgo: ep.lastPickedAt > 0 ? Math.round(now - ep.lastPickedAt) : null,
    picks: ep.picks,
  };
}
