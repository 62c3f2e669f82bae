// vLLM's KV-cache event messages (vllm/distributed/kv_events.py), encoded by the simulated engine and decoded by the
// gateway. Pure: bytes in, objects out; the ZeroMQ sockets live in src/engine/kv-events.ts and
// src/gateway/kv-events/.
//
// Wire: a ZeroMQ PUB multipart message [topic, sequence number (8 bytes, big-endian), payload]; the payload is the
// msgpack encoding of msgspec structs. We encode vLLM's array_like form (the one the llm-d inference simulator and
// llm-d's kv-cache-manager speak; vLLM ≥ 0.11 may send the same structs as maps, which we also decode):
//   KVEventBatch  [ts (float seconds), [event…], data_parallel_rank]
//   BlockStored   ["BlockStored", block_hashes, parent_block_hash | nil, token_ids, block_size, lora_id | nil,
//                  medium, lora_name | nil]
//   BlockRemoved  ["BlockRemoved", block_hashes, medium]
//   AllBlocksCleared ["AllBlocksCleared"]
// Block hashes are unsigned 64-bit integers (msgpack uint64 when large), or, from a vLLM that publishes raw digests,
// byte strings whose last 8 bytes are the same integer. The replay socket (ROUTER) answers a request frame holding a
// start sequence number (8 bytes, big-endian) with [sequence, payload] for each buffered batch from there on, then
// [REPLAY_END (−1 as 8 bytes), empty].
import { Decoder, Encoder } from '@msgpack/msgpack';

export type KvEvent =
  | {
      type: 'BlockStored';
      blockHashes: bigint[];
      parentBlockHash: bigint | null;
      tokenIds: number[];
      blockSize: number;
      loraId: number | null;
      medium: string | null;
      loraName: string | null;
    }
  | { type: 'BlockRemoved'; blockHashes: bigint[]; medium: string | null }
  | { type: 'AllBlocksCleared' };

export interface KvEventBatch {
  ts: number;
  events: KvEvent[];
  dataParallelRank: number | null;
}

export const MEDIUM_GPU = 'GPU';

/** The replay stream's end marker: sequence −1 as 8 signed big-endian bytes. */
export const REPLAY_END = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

export class KvEventDecodeError extends Error {}

const encoder = new Encoder({ useBigInt64: true });
const decoder = new Decoder({ useBigInt64: true, maxArrayLength: 1 << 22, maxStrLength: 1 << 16, maxBinLength: 1 << 16, maxMapLength: 64 });

function encodeEvent(e: KvEvent): unknown[] {
  switch (e.type) {
    case 'BlockStored':
      return [e.type, e.blockHashes, e.parentBlockHash, e.tokenIds, e.blockSize, e.loraId, e.medium, e.loraName];
    case 'BlockRemoved':
      return [e.type, e.blockHashes, e.medium];
    case 'AllBlocksCleared':
      return [e.type];
  }
}

export function encodeKvEventBatch(batch: KvEventBatch): Uint8Array {
  return encoder.encode([batch.ts, batch.events.map(encodeEvent), batch.dataParallelRank]);
}

/** Sequence number frame: 8 bytes, big-endian. */
export function seqFrame(seq: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(seq));
  return b;
}

/** A sequence frame's number; −1 for REPLAY_END; throws on a frame that is not 8 bytes. */
export function readSeq(frame: Uint8Array): number {
  if (frame.byteLength !== 8) throw new KvEventDecodeError(`sequence frame of ${frame.byteLength} bytes`);
  const v = Buffer.from(frame.buffer, frame.byteOffset, 8).readBigInt64BE(0);
  return Number(v);
}

function fail(what: string): never {
  throw new KvEventDecodeError(what);
}

function hashOf(v: unknown): bigint {
  if (typeof v === 'bigint') return BigInt.asUintN(64, v);
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt.asUintN(64, BigInt(v));
  if (v instanceof Uint8Array && v.byteLength >= 8) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).readBigUInt64BE(v.byteLength - 8);
  return fail('block hash is not an integer or a digest');
}

function hashes(v: unknown): bigint[] {
  if (!Array.isArray(v)) fail('block_hashes is not a list');
  return v.map(hashOf);
}

function optInt(v: unknown, what: string): number | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'bigint') return Number(v);
  return fail(`${what} is not an integer`);
}

function optStr(v: unknown, what: string): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return v;
  return fail(`${what} is not a string`);
}

function tokenIds(v: unknown): number[] {
  if (!Array.isArray(v)) fail('token_ids is not a list');
  for (const t of v) if (typeof t !== 'number' || !Number.isInteger(t) || t < 0) fail('token id is not a non-negative integer');
  return v as number[];
}

/** One event, in array form or map form (tag in `type`). */
function decodeEvent(raw: unknown): KvEvent {
  let tag: unknown;
  let f: (i: number, name: string) => unknown;
  if (Array.isArray(raw)) {
    tag = raw[0];
    f = (i) => raw[i];
  } else if (raw !== null && typeof raw === 'object') {
    const m = raw as Record<string, unknown>;
    tag = m.type;
    f = (_i, name) => m[name];
  } else {
    return fail('event is neither an array nor a map');
  }
  switch (tag) {
    case 'BlockStored': {
      const blockSize = optInt(f(4, 'block_size'), 'block_size');
      if (blockSize === null || blockSize <= 0) fail('block_size missing');
      const parent = f(2, 'parent_block_hash');
      return {
        type: 'BlockStored',
        blockHashes: hashes(f(1, 'block_hashes')),
        parentBlockHash: parent === null || parent === undefined ? null : hashOf(parent),
        tokenIds: tokenIds(f(3, 'token_ids')),
        blockSize,
        loraId: optInt(f(5, 'lora_id'), 'lora_id'),
        medium: optStr(f(6, 'medium'), 'medium'),
        loraName: optStr(f(7, 'lora_name'), 'lora_name'),
      };
    }
    case 'BlockRemoved':
      return { type: 'BlockRemoved', blockHashes: hashes(f(1, 'block_hashes')), medium: optStr(f(2, 'medium'), 'medium') };
    case 'AllBlocksCleared':
      return { type: 'AllBlocksCleared' };
    default:
      return fail(`unknown event ${String(tag).slice(0, 40)}`);
  }
}

/** Decode a batch payload; throws KvEventDecodeError on anything that is not one. */
export function decodeKvEventBatch(payload: Uint8Array): KvEventBatch {
  let raw: unknown;
  try {
    raw = decoder.decode(payload);
  } catch (err) {
    throw new KvEventDecodeError(`not msgpack: ${(err as Error).message}`);
  }
  let ts: unknown;
  let events: unknown;
  let rank: unknown;
  if (Array.isArray(raw)) [ts, events, rank] = raw;
  else if (raw !== null && typeof raw === 'object') {
    const m = raw as Record<string, unknown>;
    ts = m.ts;
    events = m.events;
    rank = m.data_parallel_rank;
  } else fail('batch is neither an array nor a map');
  if (typeof ts !== 'number') fail('ts is not a number');
  if (!Array.isArray(events)) fail('events is not a list');
  return { ts, events: events.map(decodeEvent), dataParallelRank: optInt(rank, 'data_parallel_rank') };
}
