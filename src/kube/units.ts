// Parsing of the two unit-bearing string formats in our APIs: Go durations (`1m30s`) and Kubernetes resource
// quantities (`8Gi`, `500m`, `1e3`).

const DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, μs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go duration (time.ParseDuration: `300ms`, `1.5h`, `2h45m`, `-1s`, `0`) in milliseconds; undefined if invalid. */
export function parseDuration(text: string): number | undefined {
  const match = /^([-+]?)(.*)$/.exec(text.trim());
  if (!match) return undefined;
  const [, sign, rest = ''] = match;
  if (rest === '0') return 0;
  if (rest === '') return undefined;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
  let total = 0;
  let index = 0;
  while (index < rest.length) {
    re.lastIndex = index;
    const part = re.exec(rest);
    if (!part) return undefined;
    total += Number(part[1]) * DURATION_UNITS[part[2]!]!;
    index = re.lastIndex;
  }
  return sign === '-' ? -total : total;
}

const BINARY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const DECIMAL: Record<string, number> = { n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };

/** A resource quantity (`2`, `500m`, `8Gi`, `1e3`, or a number) as a number; undefined if invalid. */
export function parseQuantity(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  const match = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?)$/.exec(value.trim());
  if (!match) return undefined;
  const [, number, exponent, suffix = ''] = match;
  const base = Number(number);
  if (exponent) return base * 10 ** Number(exponent.slice(1));
  return base * (BINARY[suffix] ?? DECIMAL[suffix] ?? 1);
}
