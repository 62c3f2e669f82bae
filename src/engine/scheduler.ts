// The engine loop: continuous batching with chunked prefill, after vLLM's V1 scheduler.
//
// Sequences wait in a FIFO queue. Each step
//   0. moves sequences whose KV cache finished arriving from a prefill engine (P/D disaggregation) into the batch;
//   1. gives every running sequence the tokens it still has to compute (1 when decoding, the rest of its prompt when
//      prefilling), within the step's token budget (--max-num-batched-tokens), allocating KV blocks; when blocks run
//      out the most recently admitted running sequence is preempted (blocks freed, recomputed later, back to the head
//      of the queue; its blocks stay in the prefix cache, so the recomputation mostly hits);
//   2. if nothing was preempted, admits waiting sequences in order while fewer than --max-num-seqs run and budget and
//      blocks remain, skipping (leaving in place) a sequence whose LoRA adapter would exceed --max-loras distinct
//      adapters in the batch. A new sequence first looks up its prompt in the prefix cache; cached tokens are not
//      prefilled. A sequence carrying a remote prefill's KV cache is not prefilled at all: it holds blocks for its
//      prompt while the transfer runs (kvTransferMs), then joins at step 0;
//   3. lasts stepDurationMs() of that work (a timer, never a busy loop), then every sequence whose tokens are all
//      computed samples one token, which is handed to its listener; newly full KV blocks enter the prefix cache.
// With speculative decoding (speculative.ts) a decoding sequence also holds budget and KV blocks for the k proposed
// tokens, the step costs their verification and the drafter's steps, and the sequence emits its own next token plus
// the accepted proposals (1..k+1 tokens), each handed to its listener in order; the accepted ones' KV stays computed.
// When nothing runs, waits or transfers the loop stops: no timer is pending until the next submit().

import { BusyWindow } from './gpu.ts';
import { emptyKvState, type KvBlock, type KvCache, type KvHolder } from './kv-cache.ts';
import { attentionPairs, kvTransferMs, stepDurationMs, type LatencyParams } from './latency.ts';
import { acceptedTokens, type SpeculativeConfig } from './speculative.ts';
import { writeRecord } from '../kube/log.ts';

export type FinishReason = 'stop' | 'length' | 'abort';

export interface SequenceSpec {
  /** Prompt length in tokens (the full prompt, cached or not). */
  promptTokens: number;
  /** Prompt token ids, for prefix caching; may be empty (then nothing is cached). */
  promptTokenIds?: readonly number[];
  /** Tokens to generate before finishing with `finishReasonAtMax`. */
  maxTokens: number;
  /** "length" when max_tokens was requested explicitly, "stop" when the simulated answer ends naturally (EOS). */
  finishReasonAtMax: 'length' | 'stop';
  /** The request's max_tokens parameter, for the vllm:request_params_max_tokens histogram. */
  maxTokensParam?: number;
  /** LoRA adapter the sequence runs with, or none for the base model. */
  lora?: string | null;
  /** Prefill/decode disaggregation, decode side: the prompt's KV cache comes from a prefill engine. */
  remotePrefill?: boolean;
  /** Prefill side: remember the block ids (kv_transfer_params.remote_block_ids) before freeing them. */
  remoteDecode?: boolean;
}

export interface SequenceListener {
  /**
   * A token was sampled for `seq` (seq.numOutputTokens already counts it). `finishing` is the reason the sequence ends
   * with this token, or null. Return a finish reason (e.g. "stop" for a matched stop string) to end it now. The
   * listener may push the token's id to seq.outputTokenIds (prefix caching of generated text uses it).
   */
  onToken(seq: Sequence, finishing: FinishReason | null): FinishReason | null | void;
  /** The sequence ended (after its last onToken, or when aborted). Called once. */
  onFinish(seq: Sequence, reason: FinishReason): void;
}

/** What the metrics module learns from the loop. Times are in seconds. */
export interface SchedulerObserver {
  onFirstToken(seq: Sequence, ttftSeconds: number): void;
  onInterToken(seconds: number): void;
  onStep(stats: StepStats): void;
  onFinish(seq: Sequence, reason: FinishReason): void;
}

export interface StepStats {
  /** Prompt tokens of sequences that produced their first token this step. */
  promptTokens: number;
  /** Tokens sampled this step. */
  generationTokens: number;
  /** Tokens computed this step (prefill + decode). */
  scheduledTokens: number;
  preemptions: number;
  /** Prompt tokens found in the prefix cache for sequences admitted this step, and tokens looked up. */
  prefixCacheHits: number;
  prefixCacheQueries: number;
  durationMs: number;
  /** Speculative decoding: sequences that drafted this step, tokens proposed, tokens accepted, and accepted by position. */
  specDrafts: number;
  specDraftTokens: number;
  specAcceptedTokens: number;
  specAcceptedPerPosition: number[];
}

export type SequenceState = 'waiting' | 'transferring' | 'running' | 'finished';

let nextSequenceId = 1;

export class Sequence implements KvHolder {
  readonly id = nextSequenceId++;
  readonly spec: SequenceSpec;
  readonly listener: SequenceListener;
  readonly promptTokenIds: readonly number[];
  readonly outputTokenIds: number[] = [];
  readonly cacheable: boolean;
  readonly lora: string | null;
  state: SequenceState = 'waiting';
  /** Prompt plus generated tokens. */
  numTokens: number;
  /** Tokens whose KV entries are computed. */
  numComputedTokens = 0;
  numOutputTokens = 0;
  /** Prompt tokens found in the prefix cache when first admitted. */
  numCachedTokens = 0;
  numPreemptions = 0;
  kvBlocks: KvBlock[];
  kvCommitted: number;
  blockHashes: number[];
  blockDigests: Buffer[];
  /** Remote prefill: when the KV transfer completes (ms, the scheduler's clock). */
  kvReadyTime = -1;
  /** Remote decode: the block ids the sequence held when it finished. */
  remoteBlockIds: number[] | null = null;
  finishReason: FinishReason | null = null;
  /** Timestamps (ms, the scheduler's clock). */
  readonly arrivalTime: number;
  firstScheduledTime = -1;
  firstTokenTime = -1;
  lastTokenTime = -1;
  finishTime = -1;

  constructor(spec: SequenceSpec, listener: SequenceListener, now: number) {
    this.spec = spec;
    this.listener = listener;
    this.promptTokenIds = spec.promptTokenIds ?? [];
    this.cacheable = this.promptTokenIds.length === spec.promptTokens;
    this.lora = spec.lora ?? null;
    this.numTokens = spec.promptTokens;
    this.arrivalTime = now;
    const kv = emptyKvState();
    this.kvBlocks = kv.kvBlocks;
    this.kvCommitted = kv.kvCommitted;
    this.blockHashes = kv.blockHashes;
    this.blockDigests = kv.blockDigests;
  }
}

export interface SchedulerOptions {
  maxNumSeqs: number;
  maxNumBatchedTokens: number;
  latency: LatencyParams;
  kv: KvCache;
  /** Most distinct LoRA adapters in the running batch (--max-loras); default 1. */
  maxLoras?: number;
  /** Most sequences waiting in the queue (--max-waiting-queue-length); hasRoomFor() checks it. Default unbounded. */
  maxWaiting?: number;
  observer?: SchedulerObserver;
  /** Clock in milliseconds; performance.now by default. */
  now?: () => number;
  /** Uniform [0, 1) source for latency jitter. */
  random?: () => number;
  /** Speculative decoding (speculative.ts); off when absent. */
  speculative?: SpeculativeConfig;
  /** Uniform [0, 1) source for draft acceptance (seeded, separate from jitter). */
  acceptRandom?: () => number;
}

/** How far (ms) the loop may run behind its planned step boundaries and still catch up instead of re-basing. */
const MAX_CATCH_UP_MS = 5;

export class Scheduler {
  readonly maxNumSeqs: number;
  readonly maxNumBatchedTokens: number;
  readonly maxLoras: number;
  readonly maxWaiting: number;
  readonly latency: LatencyParams;
  readonly kv: KvCache;
  private readonly observer: SchedulerObserver | undefined;
  private readonly now: () => number;
  private readonly random: (() => number) | undefined;
  readonly speculative: SpeculativeConfig | undefined;
  private readonly acceptRandom: () => number;

  private readonly waiting: Sequence[] = [];
  private readonly running: Sequence[] = [];
  private readonly transferring: Sequence[] = [];
  /** Running (and transferring) sequences per LoRA adapter. */
  private readonly activeLoras = new Map<string, number>();
  /**
   * The step in flight: slotSeqs[i] computes slotTokens[i] tokens, for i < numSlots. Reused from step to step (the
   * loop allocates nothing per step or per token).
   */
  private inFlight = false;
  private readonly slotSeqs: Sequence[] = [];
  private readonly slotTokens: number[] = [];
  /** Speculative decoding: tokens slot i's sequence proposes (0: none), counted in its budget and blocks. */
  private readonly slotDrafts: number[] = [];
  private numSlots = 0;
  private inFlightDurationMs = 0;
  private plannedEnd = -1;
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;
  private stopped = false;
  private stepCount = 0;
  /** When steps computed: the simulated GPU's utilisation (DCGM_FI_DEV_GPU_UTIL, gpu.ts). */
  private readonly busy = new BusyWindow();

  constructor(options: SchedulerOptions) {
    if (options.maxNumBatchedTokens < options.maxNumSeqs) {
      throw new Error(
        `max_num_batched_tokens (${options.maxNumBatchedTokens}) must be >= max_num_seqs (${options.maxNumSeqs})`,
      );
    }
    this.maxNumSeqs = options.maxNumSeqs;
    this.maxNumBatchedTokens = options.maxNumBatchedTokens;
    this.maxLoras = options.maxLoras ?? 1;
    this.maxWaiting = options.maxWaiting ?? Infinity;
    this.latency = options.latency;
    this.kv = options.kv;
    this.observer = options.observer;
    this.now = options.now ?? (() => performance.now());
    this.random = options.random;
    this.speculative = options.speculative;
    this.acceptRandom = options.acceptRandom ?? Math.random;
    this.onStepTimer = () => {
      this.timer = null;
      this.completeStep();
    };
    this.onStepImmediate = () => {
      this.immediate = null;
      this.completeStep();
    };
  }

  private readonly onStepTimer: () => void;
  private readonly onStepImmediate: () => void;

  get numRunning(): number {
    return this.running.length;
  }

  /** Sequences queued, plus those waiting for a remote KV transfer (vLLM counts both as waiting). */
  get numWaiting(): number {
    return this.waiting.length + this.transferring.length;
  }

  /** Steps run since start. */
  get steps(): number {
    return this.stepCount;
  }

  /** True when no step is planned or running and no timer is pending. */
  get idle(): boolean {
    return this.timer === null && this.immediate === null && !this.inFlight;
  }

  /** Share (0..1) of the last second during which a step was computing (gpu.ts). */
  gpuUtilization(): number {
    return this.busy.utilization(this.now());
  }

  /** Whether `n` more sequences fit in the waiting queue (--max-waiting-queue-length). */
  hasRoomFor(n: number): boolean {
    return this.waiting.length + n <= this.maxWaiting;
  }

  /**
   * Prompt tokens accepted and not yet prefilled: the queue's whole prompts (less what a preempted one had
   * computed) and what running sequences in a chunked prefill still have to go. The work ahead of a new request.
   */
  queuedPromptTokens(): number {
    let n = 0;
    for (const s of this.waiting) n += Math.max(0, s.spec.promptTokens - s.numComputedTokens);
    for (const s of this.running) n += Math.max(0, s.spec.promptTokens - s.numComputedTokens);
    return n;
  }

  /** Tokens held in the KV cache by running sequences. */
  usedTokens(): number {
    let n = 0;
    for (const s of this.running) n += s.numComputedTokens;
    return n;
  }

  /** LoRA adapters with running (or transferring) sequences, sorted. */
  runningLoras(): string[] {
    return [...this.activeLoras.keys()].sort();
  }

  /** LoRA adapters with queued sequences, sorted. */
  waitingLoras(): string[] {
    const s = new Set<string>();
    for (const seq of this.waiting) if (seq.lora) s.add(seq.lora);
    return [...s].sort();
  }

  /** Queue a sequence; it is scheduled at the next step boundary. */
  submit(spec: SequenceSpec, listener: SequenceListener): Sequence {
    if (this.stopped) throw new Error('scheduler stopped');
    if (!(spec.promptTokens > 0)) throw new Error('prompt must have at least one token');
    if (!(spec.maxTokens > 0)) throw new Error('maxTokens must be positive');
    const seq = new Sequence(spec, listener, this.now());
    this.waiting.push(seq);
    this.kick();
    return seq;
  }

  /** End a sequence early (client gone). Its slot and blocks are free for the next step. */
  abort(seq: Sequence): void {
    if (seq.state === 'finished') return;
    if (seq.state === 'waiting') {
      const i = this.waiting.indexOf(seq);
      if (i >= 0) this.waiting.splice(i, 1);
      this.kv.free(seq);
    } else if (seq.state === 'transferring') {
      const i = this.transferring.indexOf(seq);
      if (i >= 0) this.transferring.splice(i, 1);
      this.release(seq);
    } else {
      this.removeRunning(seq);
    }
    this.finish(seq, 'abort', this.now());
  }

  /** Abort every sequence (sleep mode: the KV cache is discarded); the loop keeps running for new ones. */
  abortAll(): void {
    for (const seq of [...this.running, ...this.transferring, ...this.waiting]) this.abort(seq);
  }

  /** Abort everything and stop the loop. */
  stop(): void {
    this.stopped = true;
    if (this.inFlight) this.busy.close(this.now());
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = null;
    this.immediate = null;
    this.inFlight = false;
    this.clearSlots();
    for (const seq of [...this.running, ...this.transferring, ...this.waiting]) this.abort(seq);
  }

  private kick(): void {
    if (this.stopped || !this.idle) return;
    // setImmediate coalesces requests that arrive in the same event-loop turn into one step.
    this.immediate = setImmediate(() => {
      this.immediate = null;
      this.plannedEnd = -1;
      this.planStep();
    });
  }

  private addLora(seq: Sequence): void {
    if (seq.lora) this.activeLoras.set(seq.lora, (this.activeLoras.get(seq.lora) ?? 0) + 1);
  }

  private loraFits(seq: Sequence): boolean {
    return !seq.lora || this.activeLoras.has(seq.lora) || this.activeLoras.size < this.maxLoras;
  }

  /** Free the sequence's blocks and its LoRA slot. */
  private release(seq: Sequence): void {
    if (seq.spec.remoteDecode && seq.remoteBlockIds === null) seq.remoteBlockIds = seq.kvBlocks.map((b) => b.id);
    this.kv.free(seq);
    if (seq.lora) {
      const n = (this.activeLoras.get(seq.lora) ?? 1) - 1;
      if (n > 0) this.activeLoras.set(seq.lora, n);
      else this.activeLoras.delete(seq.lora);
    }
  }

  private removeRunning(seq: Sequence): void {
    const i = this.running.indexOf(seq);
    if (i >= 0) this.running.splice(i, 1);
    this.release(seq);
  }

  private preemptLast(): Sequence {
    const victim = this.running.pop()!;
    this.release(victim);
    victim.state = 'waiting';
    victim.numComputedTokens = 0;
    victim.numPreemptions++;
    this.waiting.unshift(victim);
    return victim;
  }

  private planStep(): void {
    if (this.stopped) return;
    const now = this.now();
    this.clearSlots();
    let budget = this.maxNumBatchedTokens;
    let decodeSeqs = 0;
    let decodeContextTokens = 0;
    let prefillTokens = 0;
    let prefillAttentionPairs = 0;
    let verifyTokens = 0;
    let draftSteps = 0;
    let preemptions = 0;
    let cacheHits = 0;
    let cacheQueries = 0;

    // 0. Remote prefills whose KV cache has arrived join the batch: only the last prompt token is computed here.
    for (let i = 0; i < this.transferring.length && this.running.length < this.maxNumSeqs; ) {
      const seq = this.transferring[i]!;
      if (seq.kvReadyTime > now) {
        i++;
        continue;
      }
      this.transferring.splice(i, 1);
      seq.state = 'running';
      seq.numComputedTokens = seq.spec.promptTokens - 1;
      this.kv.commit(seq, seq.numComputedTokens);
      this.running.push(seq);
    }

    // 1. Running sequences, oldest first.
    const k = this.speculative?.numSpeculativeTokens ?? 0;
    for (let i = 0; i < this.running.length && budget > 0; i++) {
      const seq = this.running[i]!;
      const tokens = Math.min(seq.numTokens - seq.numComputedTokens, budget);
      if (tokens <= 0) continue;
      // Decoding: one token after the last; a remote prefill's last prompt token is computed like a decode step.
      const decoding = tokens === 1 && seq.numComputedTokens === seq.numTokens - 1 && (seq.numOutputTokens > 0 || seq.spec.remotePrefill);
      // Speculative decoding: the proposals take budget and KV slots too (as vLLM's lookahead slots), when they fit.
      const drafts = decoding && k > 0 && budget >= 1 + k ? Math.min(k, Math.max(0, seq.spec.maxTokens - seq.numOutputTokens - 1)) : 0;
      let scheduled = true;
      while (!this.kv.allocate(seq, seq.numComputedTokens + tokens + drafts)) {
        const victim = this.preemptLast();
        preemptions++;
        if (victim === seq) {
          scheduled = false;
          break;
        }
      }
      if (!scheduled) break;
      this.addSlot(seq, tokens, drafts);
      budget -= tokens + drafts;
      if (decoding) {
        decodeSeqs++;
        decodeContextTokens += seq.numTokens;
        verifyTokens += drafts;
        if (drafts > draftSteps) draftSteps = drafts;
      } else {
        prefillTokens += tokens;
        prefillAttentionPairs += attentionPairs(seq.numComputedTokens, tokens);
      }
    }

    // 2. Admit waiting sequences in order (FCFS, head-of-line blocking on budget and blocks like vLLM's FCFS policy;
    //    a sequence whose LoRA adapter cannot join the batch is skipped and keeps its place).
    if (preemptions === 0) {
      for (let i = 0; i < this.waiting.length && this.running.length < this.maxNumSeqs && budget > 0; ) {
        const seq = this.waiting[i]!;
        if (!this.loraFits(seq)) {
          i++;
          continue;
        }
        const first = seq.numPreemptions === 0 && seq.firstScheduledTime < 0;
        const lookupTokens = seq.spec.remotePrefill ? seq.spec.promptTokens : seq.numTokens;
        const cached = this.kv.lookup(seq, lookupTokens);
        if (first) {
          seq.numCachedTokens = cached;
          cacheHits += cached;
          cacheQueries += seq.spec.promptTokens;
        }
        if (seq.spec.remotePrefill && first) {
          // The prompt's KV cache is pulled from the prefill engine: hold blocks for it, compute nothing now.
          if (!this.kv.allocate(seq, seq.spec.promptTokens, cached)) break;
          this.waiting.splice(i, 1);
          seq.state = 'transferring';
          seq.firstScheduledTime = now;
          seq.kvReadyTime = now + kvTransferMs(this.latency, seq.spec.promptTokens - cached);
          this.addLora(seq);
          this.transferring.push(seq);
          continue;
        }
        seq.numComputedTokens = cached;
        const tokens = Math.min(seq.numTokens - seq.numComputedTokens, budget);
        if (!this.kv.allocate(seq, seq.numComputedTokens + tokens, cached)) {
          seq.numComputedTokens = 0;
          break;
        }
        this.waiting.splice(i, 1);
        seq.state = 'running';
        if (seq.firstScheduledTime < 0) seq.firstScheduledTime = now;
        this.addLora(seq);
        this.running.push(seq);
        this.addSlot(seq, tokens);
        budget -= tokens;
        prefillTokens += tokens;
        prefillAttentionPairs += attentionPairs(seq.numComputedTokens, tokens);
      }
    }

    if (this.numSlots === 0) {
      this.plannedEnd = -1;
      // Nothing can run: wait for the next KV transfer, if any; otherwise both queues are empty.
      if (this.transferring.length > 0) {
        const next = Math.min(...this.transferring.map((s) => s.kvReadyTime));
        this.timer = setTimeout(() => {
          this.timer = null;
          this.planStep();
        }, Math.max(0, Math.ceil(next - now)));
        this.timer.unref();
      }
      return;
    }

    const shape = this.stepShape;
    shape.decodeSeqs = decodeSeqs;
    shape.prefillTokens = prefillTokens;
    shape.decodeContextTokens = decodeContextTokens;
    shape.prefillAttentionPairs = prefillAttentionPairs;
    shape.verifyTokens = verifyTokens;
    // The drafter proposes for the whole batch at once, one step per proposed position.
    shape.draftMs = draftSteps > 0 ? draftSteps * this.speculative!.draftCost * this.latency.interTokenLatencyMs : 0;
    const duration = stepDurationMs(this.latency, shape, this.random);
    const start = this.plannedEnd >= 0 && now - this.plannedEnd <= MAX_CATCH_UP_MS ? this.plannedEnd : now;
    this.plannedEnd = start + duration;
    this.busy.begin(start, this.plannedEnd);
    this.inFlight = true;
    this.inFlightDurationMs = duration;
    this.pendingStats.preemptions = preemptions;
    this.pendingStats.prefixCacheHits = cacheHits;
    this.pendingStats.prefixCacheQueries = cacheQueries;
    const delay = this.plannedEnd - now;
    if (delay < 1) {
      this.immediate = setImmediate(this.onStepImmediate);
    } else {
      this.timer = setTimeout(this.onStepTimer, Math.round(delay));
      this.timer.unref();
    }
  }

  private readonly stepShape = { decodeSeqs: 0, prefillTokens: 0, decodeContextTokens: 0, prefillAttentionPairs: 0, verifyTokens: 0, draftMs: 0 };
  private readonly pendingStats = { preemptions: 0, prefixCacheHits: 0, prefixCacheQueries: 0 };
  /** Handed to the observer after each step; reused (observers read it during the call only). */
  private readonly stepStats: StepStats = {
    promptTokens: 0,
    generationTokens: 0,
    scheduledTokens: 0,
    preemptions: 0,
    prefixCacheHits: 0,
    prefixCacheQueries: 0,
    durationMs: 0,
    specDrafts: 0,
    specDraftTokens: 0,
    specAcceptedTokens: 0,
    specAcceptedPerPosition: [],
  };

  private addSlot(seq: Sequence, tokens: number, drafts = 0): void {
    this.slotSeqs[this.numSlots] = seq;
    this.slotTokens[this.numSlots] = tokens;
    this.slotDrafts[this.numSlots] = drafts;
    this.numSlots++;
  }

  /** Forget the last step's slots (dropping the references, so finished sequences can be collected). */
  private clearSlots(): void {
    for (let i = 0; i < this.numSlots; i++) this.slotSeqs[i] = undefined as unknown as Sequence;
    this.numSlots = 0;
  }

  private completeStep(): void {
    const wasInFlight = this.inFlight;
    this.inFlight = false;
    if (!wasInFlight || this.stopped) return;
    this.busy.close(); // computed for its planned duration, however late or early its timer fired
    this.stepCount++;
    const now = this.now();
    let promptTokens = 0;
    let generationTokens = 0;
    let scheduledTokens = 0;
    const stats = this.stepStats;
    stats.specDrafts = 0;
    stats.specDraftTokens = 0;
    stats.specAcceptedTokens = 0;
    stats.specAcceptedPerPosition.fill(0);

    const n = this.numSlots;
    for (let i = 0; i < n; i++) {
      const seq = this.slotSeqs[i]!;
      const tokens = this.slotTokens[i]!;
      // Aborted or preempted while the step ran: its work is discarded.
      if (seq.state !== 'running') continue;
      seq.numComputedTokens += tokens;
      scheduledTokens += tokens;
      this.kv.commit(seq, seq.numComputedTokens);
      if (seq.numComputedTokens < seq.numTokens) continue; // chunked prefill continues next step
      // Speculative decoding: the proposals accepted, emitted after the sequence's own next token.
      let accepted = 0;
      const drafts = this.slotDrafts[i]!;
      if (drafts > 0) {
        accepted = acceptedTokens(drafts, this.speculative!.acceptanceRate, this.acceptRandom);
        scheduledTokens += drafts;
        stats.specDrafts++;
        stats.specDraftTokens += drafts;
        stats.specAcceptedTokens += accepted;
        for (let p = 0; p < accepted; p++) stats.specAcceptedPerPosition[p] = (stats.specAcceptedPerPosition[p] ?? 0) + 1;
      }
      const emitted = 1 + accepted;
      const sinceLast = seq.firstTokenTime < 0 ? 0 : (now - seq.lastTokenTime) / 1000 / emitted;
      for (let t = 0; t < emitted; t++) {
        // An accepted proposal's KV was computed by the verification pass.
        if (t > 0) {
          seq.numComputedTokens++;
          this.kv.commit(seq, seq.numComputedTokens);
        }
        generationTokens++;
        if (seq.firstTokenTime < 0) promptTokens += seq.spec.promptTokens;
        if (!this.sample(seq, now, sinceLast)) break;
      }
    }

    if (this.observer) {
      stats.promptTokens = promptTokens;
      stats.generationTokens = generationTokens;
      stats.scheduledTokens = scheduledTokens;
      stats.preemptions = this.pendingStats.preemptions;
      stats.prefixCacheHits = this.pendingStats.prefixCacheHits;
      stats.prefixCacheQueries = this.pendingStats.prefixCacheQueries;
      stats.durationMs = this.inFlightDurationMs;
      this.observer.onStep(stats);
    }

    if (this.running.length > 0 || this.waiting.length > 0 || this.transferring.length > 0) this.planStep();
    else this.plannedEnd = -1;
  }

  /**
   * Sample one token for `seq` and hand it to its listener; false when the sequence is done (finished, aborted or
   * dropped for a broken listener). Tokens emitted together by one speculative step share the step's interval evenly.
   */
  private sample(seq: Sequence, now: number, interTokenSeconds: number): boolean {
    seq.numOutputTokens++;
    seq.numTokens++;
    if (seq.firstTokenTime < 0) {
      seq.firstTokenTime = now;
      this.observer?.onFirstToken(seq, (now - seq.arrivalTime) / 1000);
    } else {
      this.observer?.onInterToken(interTokenSeconds);
    }
    seq.lastTokenTime = now;
    const atMax = seq.numOutputTokens >= seq.spec.maxTokens ? seq.spec.finishReasonAtMax : null;
    let requested: FinishReason | null | void;
    try {
      requested = seq.listener.onToken(seq, atMax);
    } catch (err) {
      // A broken listener (e.g. a failed socket write) must not take the loop down: drop its sequence.
      reportListenerError(err);
      this.abort(seq);
      return false;
    }
    // The listener may have aborted the sequence (e.g. the client write failed).
    if (seq.state !== 'running') return false;
    const reason = requested ?? atMax;
    if (reason) {
      this.removeRunning(seq);
      this.finish(seq, reason, now);
      return false;
    }
    return true;
  }

  private finish(seq: Sequence, reason: FinishReason, now: number): void {
    seq.state = 'finished';
    seq.finishReason = reason;
    seq.finishTime = now;
    try {
      seq.listener.onFinish(seq, reason);
    } catch (err) {
      reportListenerError(err);
    }
    this.observer?.onFinish(seq, reason);
  }
}

function reportListenerError(err: unknown): void {
  writeRecord('error', 'engine', 'sequence listener failed', { error: (err as Error)?.stack ?? String(err) });
}
