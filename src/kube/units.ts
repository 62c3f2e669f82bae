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

/** resource.ErrFormatWrong: the text is not a number followed by suffix characters. */
export const QUANTITY_FORMAT_ERROR = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
/** resource.ErrSuffix: suffix characters that are no known suffix (`1K`, `1Mm`). */
export const QUANTITY_SUFFIX_ERROR = "unable to parse quantity's suffix";

/** How a quantity prints back: the family of the suffix it was written with, as resource.Format. */
export type QuantityFormat = 'DecimalSI' | 'BinarySI' | 'DecimalExponent';

/** A resource quantity held exactly, in units of 10^-9 (resource.Quantity rounds finer values up, away from zero). */
export interface Quantity {
  nanos: bigint;
  format: QuantityFormat;
}

const BINARY_EXP: Record<string, number> = { '': 0, Ki: 1, Mi: 2, Gi: 3, Ti: 4, Pi: 5, Ei: 6 };
const DECIMAL_EXP: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const DECIMAL_SUFFIX = Object.fromEntries(Object.entries(DECIMAL_EXP).map(([suffix, exp]) => [exp, suffix])) as Record<number, string>;

/**
 * resource.ParseQuantity: a sign, digits with at most one point (either side may be empty: `.5`, `1.`), then one
 * suffix: decimal SI (`m`, `k`, `M`, …), binary SI (`Ki`, `Mi`, …) or a decimal exponent (`e3`, `E-2`). Throws
 * with the API server's message (QUANTITY_FORMAT_ERROR, QUANTITY_SUFFIX_ERROR). A JSON number is read as its text.
 */
export function readQuantity(value: string | number): Quantity {
  const text = String(value).trim();
  const match = /^([+-]?)([0-9]*)(?:\.([0-9]*))?([eEinumkKMGTP]*[-+]?[0-9]*)$/.exec(text);
  if (text === '' || !match) throw new Error(QUANTITY_FORMAT_ERROR);
  const [, sign, whole = '', fraction = '', suffix = ''] = match;
  let mantissa = BigInt(`${whole}${fraction}` || '0');
  let exp10 = -fraction.length;
  let format: QuantityFormat;
  if (suffix in BINARY_EXP && suffix !== '') {
    mantissa *= 1024n ** BigInt(BINARY_EXP[suffix]!);
    format = 'BinarySI';
  } else if (suffix in DECIMAL_EXP) {
    exp10 += DECIMAL_EXP[suffix]!;
    format = 'DecimalSI';
  } else if (/^[eE][-+]?[0-9]+$/.test(suffix)) {
    exp10 += Number(suffix.slice(1));
    format = 'DecimalExponent';
  } else {
    throw new Error(QUANTITY_SUFFIX_ERROR);
  }
  const shift = exp10 + 9;
  const magnitude = shift >= 0 ? mantissa * 10n ** BigInt(shift) : (mantissa + 10n ** BigInt(-shift) - 1n) / 10n ** BigInt(-shift);
  return { nanos: sign === '-' ? -magnitude : magnitude, format };
}

/** resource.Quantity.String(): the canonical form the API server stores and prints (`2000m` → `2`, `1536Mi` stays). */
export function formatQuantity(q: Quantity): string {
  if (q.nanos === 0n) return '0';
  const sign = q.nanos < 0n ? '-' : '';
  const abs = q.nanos < 0n ? -q.nanos : q.nanos;
  // BinarySI prints in powers of 1024 only for whole values outside (-1024, 1024); otherwise as DecimalSI.
  if (q.format === 'BinarySI' && abs >= 1024n * 10n ** 9n && abs % 10n ** 9n === 0n) {
    let units = abs / 10n ** 9n;
    let exp = 0;
    while (exp < 6 && units % 1024n === 0n) {
      units /= 1024n;
      exp += 1;
    }
    return `${sign}${units}${Object.keys(BINARY_EXP)[exp]}`;
  }
  // Decimal: the largest exponent, a multiple of 3, that keeps the number whole.
  let units = abs;
  let exp = -9;
  while (units % 1000n === 0n) {
    units /= 1000n;
    exp += 3;
  }
  const suffix = q.format === 'DecimalExponent' ? (exp === 0 ? '' : `e${exp}`) : (DECIMAL_SUFFIX[exp] ?? `e${exp}`);
  return `${sign}${units}${suffix}`;
}

/** A resource quantity (`2`, `500m`, `8Gi`, `1e3`, or a number) as a number; undefined if invalid. */
export function parseQuantity(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  try {
    return Number(readQuantity(value).nanos) / 1e9;
  } catch {
    return undefined;
  }
}
