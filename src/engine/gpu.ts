// The simulated GPU as NVIDIA's DCGM exporter would report it (metrics.ts exports the gauges):
//
//   DCGM_FI_DEV_GPU_UTIL  = round(100 × busy / window)                                              percent, 0..100
//     busy: the time within the window during which an engine step (prefill and/or decode) was computing. A step
//     computes over [start, start + stepDurationMs()] as the scheduler planned it (latency.ts), whether or not its
//     timer fired on time; the gaps between steps (nothing to run, or the loop falling behind) are idle. The window is
//     the last second, as NVML's utilisation sample period (1/6 s to 1 s) that DCGM reads: whole 50 ms buckets back
//     to 950–1000 ms before the scrape, so the value is busy / (now − window start). An idle engine reads 0; one
//     running steps back to back reads 100. In tensor parallelism every GPU computes every step: same value on all.
//   DCGM_FI_DEV_FB_USED   = min(memoryMiB, (weightsBytes + kvBytesPerToken × numGpuBlocks × blockSize) / count
//                                          + overheadBytes) / 2^20                                        MiB, per GPU
//     As vLLM does, the whole KV cache (--num-gpu-blocks) is allocated at start, so the figure does not move with
//     load; asleep (sleep mode, level 1 or 2) the weights and the KV cache are released: overheadBytes only.
//   DCGM_FI_DEV_FB_FREE   = memoryMiB − FB_USED                                                       MiB, per GPU
// The per-profile figures (weights, KV bytes per token, overhead, GPU model and framebuffer) are in profiles.ts.

/** The GPUs a profile runs on and what occupies their memory. */
export interface GpuSpec {
  /** The product name as nvidia-smi and DCGM's `modelName` label give it. */
  name: string;
  /** GPUs per engine (tensor parallelism). */
  count: number;
  /** Framebuffer per GPU, MiB, as DCGM reports it (FB_USED + FB_FREE). */
  memoryMiB: number;
  /** Model weights over all GPUs, bytes. */
  weightsBytes: number;
  /** KV cache per token over all GPUs (layers × KV heads × head dim × 2 (K, V) × bytes per element). */
  kvBytesPerToken: number;
  /** Per GPU: CUDA context, activations, CUDA graphs, bytes. */
  overheadBytes: number;
}

const MiB = 1024 * 1024;

/** DCGM_FI_DEV_FB_USED of each GPU, MiB (formula above). */
export function framebufferUsedMiB(gpu: GpuSpec, numGpuBlocks: number, blockSize: number, asleep = false): number {
  const bytes = asleep ? gpu.overheadBytes : (gpu.weightsBytes + gpu.kvBytesPerToken * numGpuBlocks * blockSize) / gpu.count + gpu.overheadBytes;
  return Math.min(gpu.memoryMiB, Math.round(bytes / MiB));
}

/** Length of the utilisation window and of its buckets, ms. */
export const UTIL_WINDOW_MS = 1000;
const BUCKET_MS = 50;
const WINDOW_BUCKETS = UTIL_WINDOW_MS / BUCKET_MS;
/** Two spare slots: a committed step may end a little after "now" (its timer fired early) without overwriting a bucket still in the window. */
const RING = WINDOW_BUCKETS + 2;

/**
 * Busy time of the simulated GPU over a sliding one-second window, without timers and without allocating: the
 * scheduler opens an interval when it plans a step and closes it when the step completes (or the loop stops); closed
 * intervals are added to a ring of 50 ms buckets, the open one is counted up to "now" when read. Times are the
 * scheduler's clock (ms).
 */
export class BusyWindow {
  private readonly busy = new Float64Array(RING);
  private readonly key = new Float64Array(RING).fill(Number.NEGATIVE_INFINITY);
  private openStart = -1;
  private openEnd = -1;
  private open = false;
  private lastEnd = Number.NEGATIVE_INFINITY;

  /** A step computes from `start` to `end` (planned); a step still open is closed first, in full. */
  begin(start: number, end: number): void {
    if (this.open) this.close();
    const s = start > this.lastEnd ? start : this.lastEnd; // steps do not overlap
    this.openStart = s;
    this.openEnd = end > s ? end : s;
    this.open = true;
  }

  /** The step in flight ended: in full at its planned end, or cut at `at` (the loop stopped). */
  close(at = Number.POSITIVE_INFINITY): void {
    if (!this.open) return;
    this.open = false;
    const end = at < this.openEnd ? (at > this.openStart ? at : this.openStart) : this.openEnd;
    this.add(this.openStart, end);
    this.lastEnd = end;
  }

  /** Share (0..1) of the window ending at `now` during which a step was computing. */
  utilization(now: number): number {
    const nowKey = Math.floor(now / BUCKET_MS);
    const firstKey = nowKey - (WINDOW_BUCKETS - 1);
    const windowStart = firstKey * BUCKET_MS;
    let busy = 0;
    for (let i = 0; i < RING; i++) {
      const k = this.key[i]!;
      if (k >= firstKey && k <= nowKey) busy += this.busy[i]!;
    }
    if (this.open) {
      const s = this.openStart > windowStart ? this.openStart : windowStart;
      const e = this.openEnd < now ? this.openEnd : now;
      if (e > s) busy += e - s;
    }
    const span = now - windowStart;
    const u = span > 0 ? busy / span : 0;
    return u <= 0 ? 0 : u >= 1 ? 1 : u;
  }

  /** Spread [start, end) over the buckets it covers (only the last RING of them can still be read). */
  private add(start: number, end: number): void {
    if (!(end > start)) return;
    const lastKey = Math.floor(end / BUCKET_MS);
    let k = Math.floor(start / BUCKET_MS);
    if (k < lastKey - (RING - 1)) k = lastKey - (RING - 1);
    for (; k <= lastKey; k++) {
      const from = k * BUCKET_MS > start ? k * BUCKET_MS : start;
      const to = (k + 1) * BUCKET_MS < end ? (k + 1) * BUCKET_MS : end;
      if (to <= from) continue;
      const slot = ((k % RING) + RING) % RING;
      if (this.key[slot] !== k) {
        this.key[slot] = k;
        this.busy[slot] = 0;
      }
      this.busy[slot]! += to - from;
    }
  }
}
