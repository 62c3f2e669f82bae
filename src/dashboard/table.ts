// A short in-memory history: per entity (a model), one ring of rows sampled together every scrape period (1 h at
// 5 s by default), so the columns share one time axis, the shape uPlot draws ([times, ...columns]).
// Rules:
//  - A row holds whatever columns that period had; a column missing from a row is NaN there (null in JSON), and a
//    column first seen late is NaN before it (per-pod columns come and go with their pods).
//  - A column with no value left in the ring is dropped, so a gone pod's columns leave with its last sample.
//  - Fixed memory: capacity rows × (1 + columns) doubles; nothing grows with time.

export interface Window {
  /** Sample times, seconds since the epoch (uPlot's unit). */
  t: number[];
  /** Each column's values at those times; null where the period had none. */
  columns: Record<string, (number | null)[]>;
}

export class SeriesTable {
  readonly capacity: number;
  readonly #times: Float64Array;
  readonly #columns = new Map<string, Float64Array>();
  /** Index of the oldest row, and how many rows there are. */
  #start = 0;
  #size = 0;

  constructor(capacity: number) {
    if (!(capacity >= 1)) throw new Error(`capacity must be >= 1, got ${capacity}`);
    this.capacity = capacity;
    this.#times = new Float64Array(capacity);
  }

  get size(): number {
    return this.#size;
  }

  /** Append a row at `atMs`; values that are undefined or not finite are recorded as missing. */
  push(atMs: number, row: Readonly<Record<string, number | undefined>>): void {
    const index = (this.#start + this.#size) % this.capacity;
    if (this.#size === this.capacity) this.#start = (this.#start + 1) % this.capacity;
    else this.#size++;
    this.#times[index] = atMs;
    for (const [name, values] of this.#columns) {
      values[index] = name in row ? finite(row[name]) : NaN;
    }
    for (const [name, value] of Object.entries(row)) {
      if (this.#columns.has(name) || !Number.isFinite(value)) continue;
      const values = new Float64Array(this.capacity).fill(NaN);
      values[index] = value!;
      this.#columns.set(name, values);
    }
    // A column whose last value just left the ring goes.
    if (this.#size === this.capacity) {
      for (const [name, values] of this.#columns) if (!values.some((v) => !Number.isNaN(v))) this.#columns.delete(name);
    }
  }

  /** The rows at or after `sinceMs`, oldest first. */
  window(sinceMs = -Infinity): Window {
    const rows: number[] = [];
    for (let i = 0; i < this.#size; i++) {
      const index = (this.#start + i) % this.capacity;
      if (this.#times[index]! >= sinceMs) rows.push(index);
    }
    const columns: Window['columns'] = {};
    for (const [name, values] of this.#columns) {
      const picked = rows.map((index) => (Number.isNaN(values[index]!) ? null : values[index]!));
      if (picked.some((v) => v !== null)) columns[name] = picked;
    }
    return { t: rows.map((index) => this.#times[index]! / 1000), columns };
  }

  /** The newest value of each column (NaN rows skipped), for the tables. */
  latest(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, values] of this.#columns) {
      for (let i = this.#size - 1; i >= 0; i--) {
        const v = values[(this.#start + i) % this.capacity]!;
        if (!Number.isNaN(v)) {
          out[name] = v;
          break;
        }
      }
    }
    return out;
  }
}

function finite(value: number | undefined): number {
  return value !== undefined && Number.isFinite(value) ? value : NaN;
}
