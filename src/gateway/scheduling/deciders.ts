// What decided each scheduling pick, counted per endpoint and exported as
// matrixinfer_gateway_routing_decisions_total{namespace,pod,address,scorer} (observability/metrics.ts).
//
// The decider of a pick among several candidates is the scorer that did most to put the chosen pod ahead of the
// runner-up (the best-scored other candidate): the largest weighted difference between the two. When the chosen pod
// is not ahead in total (the picker broke a tie), the decision is a `tie`. Without a choice the decider says why:
// `single` (one candidate was left after the filters) or `pinned` (the pod was fixed in advance: the decode half of
// a prefill/decode pair). Deciders are small integers so the request path only increments an array slot on the
// endpoint; names are interned once, when a profile is compiled.
export const SINGLE = 0;
export const PINNED = 1;
export const TIE = 2;

const names: string[] = ['single', 'pinned', 'tie'];
const ids = new Map<string, number>(names.map((n, i) => [n, i]));

/** The id for a scorer's name (interned: the same name always gets the same id). */
export function deciderId(name: string): number {
  let id = ids.get(name);
  if (id === undefined) {
    id = names.length;
    names.push(name);
    ids.set(name, id);
  }
  return id;
}

export function deciderName(id: number): string {
  return names[id] ?? 'unknown';
}

/**
 * The decider of a pick with several candidates. `perScorer` holds each scorer's unweighted scores, scorer s at
 * [s*n, s*n+n); `total` the weighted sums; `chosen` the picked index. No allocation.
 */
export function decider(
  total: Float64Array,
  perScorer: Float64Array,
  weights: readonly number[],
  scorerIds: readonly number[],
  n: number,
  chosen: number,
): number {
  let runnerUp = -1;
  let best = -Infinity;
  for (let i = 0; i < n; i++) {
    if (i !== chosen && total[i]! > best) {
      best = total[i]!;
      runnerUp = i;
    }
  }
  if (runnerUp < 0 || !(total[chosen]! > best)) return TIE;
  const S = scorerIds.length;
  if (S === 1) return scorerIds[0]!;
  let id = TIE;
  let margin = 0;
  for (let s = 0; s < S; s++) {
    const m = weights[s]! * (perScorer[s * n + chosen]! - perScorer[s * n + runnerUp]!);
    if (m > margin) {
      margin = m;
      id = scorerIds[s]!;
    }
  }
  return id;
}
