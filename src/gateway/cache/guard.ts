// The semantic tier's guard against the known false hits of embedding similarity: two questions that differ by a
// negation ("turn on" / "don't turn on"), by one side of an antonym pair ("turn on" / "turn off", "increase" /
// "decrease", "before" / "after"), by a number or its unit ("5 mg" / "50 mg", "5 mg" / "5 g") or by a named entity
// ("capital of France" / "capital of Spain") score close in any embedder (semantic-router #2691, GPTCache #694) and
// must never share an answer. A semantic hit needs `guardAllows(query, storedQuery)`.
//
// Rules:
// - The signature is what a paraphrase keeps: how many negations, which numbers with which units (number words
//   and unit spellings normalised: "five milligrams" = "5 mg"), and which pole of each antonym pair it takes.
//   Negations and numbers must be equal. Poles must not conflict: one text on one side of a pair and the other on
//   the other side (or on both) refuses the hit; a text that names no side of a pair does not ("how do I use dark
//   mode" / "how do I turn on dark mode"), since rephrasing often drops such a word ("write" / "compose").
// - Poles are shared by synonyms ("turn on" = "enable" = "activate"), so those paraphrases still hit.
// - "on" counts as a pole only after a switching verb (turn, switch, …), "in"/"out" only after log, sign, opt, …:
//   elsewhere they are prepositions.
// - Entities: a word written capitalised (not first in its sentence) or in capitals in either text must be present
//   in both, compared case-insensitively, so "france" typed in lower case still matches "France".
// - Conservative on purpose: a false hit serves a wrong answer, a missed hit only costs an engine call.

/** Antonym pairs as [pole A words, pole B words]; each pair is a dimension of the signature. */
const PAIRS: Array<[string, string[], string[]]> = [
  ['switch', ['enable', 'enabled', 'enabling', 'activate', 'activated', 'start', 'starting', 'started', 'turn-on', 'switch-on', 'unmute', 'resume'], ['disable', 'disabled', 'disabling', 'deactivate', 'deactivated', 'stop', 'stopping', 'stopped', 'off', 'mute', 'pause']],
  ['amount', ['increase', 'increasing', 'increased', 'raise', 'raising', 'more', 'higher', 'larger', 'bigger', 'grow', 'maximum', 'max', 'maximize', 'most', 'greater', 'longer', 'faster', 'above', 'over', 'upgrade', 'up'], ['decrease', 'decreasing', 'decreased', 'lower', 'lowering', 'reduce', 'reducing', 'less', 'fewer', 'smaller', 'shrink', 'minimum', 'min', 'minimize', 'least', 'shorter', 'slower', 'below', 'under', 'downgrade', 'down']],
  ['time', ['before', 'earlier', 'prior', 'previous', 'past', 'pre'], ['after', 'later', 'next', 'following', 'future', 'post']],
  ['presence', ['add', 'adding', 'added', 'insert', 'include', 'including', 'install', 'installing', 'create', 'creating', 'append'], ['remove', 'removing', 'removed', 'delete', 'deleting', 'deleted', 'exclude', 'excluding', 'uninstall', 'uninstalling', 'without', 'drop', 'destroy']],
  ['access', ['allow', 'allowed', 'permit', 'grant', 'accept', 'approve', 'unlock', 'unblock', 'open', 'opening', 'public', 'show', 'visible'], ['deny', 'denied', 'forbid', 'revoke', 'reject', 'refuse', 'lock', 'block', 'close', 'closing', 'private', 'hide', 'hidden']],
  ['direction', ['import', 'upload', 'push', 'send', 'input', 'inbound', 'incoming', 'buy', 'buying', 'encrypt', 'encode', 'compress', 'zip', 'serialize', 'login', 'log-in', 'sign-in', 'connect', 'subscribe', 'mount', 'read'], ['export', 'download', 'pull', 'receive', 'output', 'outbound', 'outgoing', 'sell', 'selling', 'decrypt', 'decode', 'decompress', 'unzip', 'deserialize', 'logout', 'log-out', 'sign-out', 'disconnect', 'unsubscribe', 'unmount', 'write']],
  ['value', ['true', 'yes', 'positive', 'pros', 'advantages', 'benefits', 'best', 'good', 'win', 'success', 'valid', 'legal', 'safe', 'hot', 'warm'], ['false', 'negative', 'cons', 'disadvantages', 'drawbacks', 'risks', 'worst', 'bad', 'lose', 'failure', 'invalid', 'illegal', 'unsafe', 'dangerous', 'cold', 'cool']],
  ['order', ['first', 'ascending', 'asc', 'oldest', 'beginning', 'start', 'top', 'left', 'north', 'east', 'upper', 'uppercase'], ['last', 'descending', 'desc', 'newest', 'latest', 'end', 'bottom', 'right', 'south', 'west', 'lowercase']],
  ['sync', ['synchronous', 'sync', 'blocking', 'online'], ['asynchronous', 'async', 'non-blocking', 'offline']],
];

const NEGATIONS = new Set(['not', 'no', 'never', 'none', 'nothing', 'nobody', 'neither', 'nor', 'cannot', 'without', 'nowhere', 'dont', 'doesnt', 'didnt', 'isnt', 'arent', 'wasnt', 'werent', 'cant', 'couldnt', 'wont', 'wouldnt', 'shouldnt', 'mustnt', 'havent', 'hasnt', 'hadnt', 'avoid']);

/** Verbs after which "on" (and "off", already a pole) is a switch, not a preposition. */
const SWITCH_VERBS = new Set(['turn', 'turns', 'turning', 'turned', 'switch', 'switches', 'switching', 'switched', 'put', 'set', 'toggle', 'flip', 'power', 'keep', 'leave', 'log', 'sign', 'it', 'them', 'mode']);

/** Verbs after which "in" and "out" take sides ("log in" / "log out", "opt in" / "opt out"). */
const IN_OUT_VERBS = new Set(['log', 'logging', 'logged', 'sign', 'signing', 'signed', 'check', 'checking', 'checked', 'opt', 'opting', 'plug', 'plugged', 'clock', 'zoom', 'zooming', 'cash', 'breathe', 'walk', 'move', 'moving', 'go', 'going']);

const POLE = new Map<string, string>();
for (const [name, a, b] of PAIRS) {
  for (const w of a) if (!POLE.has(w)) POLE.set(w, `${name}+`);
  for (const w of b) if (!POLE.has(w)) POLE.set(w, `${name}-`);
}

const NUMBER_WORDS: Record<string, number> = {
  zero: 0, one: 1, two: 2, three: 3, four: 4, five: 5, six: 6, seven: 7, eight: 8, nine: 9, ten: 10, eleven: 11,
  twelve: 12, thirteen: 13, fourteen: 14, fifteen: 15, sixteen: 16, seventeen: 17, eighteen: 18, nineteen: 19,
  twenty: 20, thirty: 30, forty: 40, fifty: 50, sixty: 60, seventy: 70, eighty: 80, ninety: 90, hundred: 100,
  thousand: 1000, million: 1e6, billion: 1e9, half: 0.5, dozen: 12, once: 1, twice: 2, single: 1, double: 2, triple: 3,
};
const MULTIPLIERS: Record<string, number> = { hundred: 100, thousand: 1e3, k: 1e3, million: 1e6, m: 1e6, billion: 1e9, bn: 1e9 };

/** Unit spellings → one canonical unit. */
const UNITS: Record<string, string> = {};
for (const [unit, spellings] of Object.entries({
  mg: ['mg', 'milligram', 'milligrams', 'milligramme'], g: ['g', 'gram', 'grams', 'gramme'], kg: ['kg', 'kilo', 'kilos', 'kilogram', 'kilograms'],
  mcg: ['mcg', 'µg', 'microgram', 'micrograms'], lb: ['lb', 'lbs', 'pound', 'pounds'], oz: ['oz', 'ounce', 'ounces'],
  ml: ['ml', 'milliliter', 'milliliters', 'millilitre', 'millilitres'], l: ['l', 'liter', 'liters', 'litre', 'litres'],
  mm: ['mm', 'millimeter', 'millimeters'], cm: ['cm', 'centimeter', 'centimeters'], m: ['meter', 'meters', 'metre', 'metres'],
  km: ['km', 'kilometer', 'kilometers', 'kilometre', 'kilometres'], mi: ['mile', 'miles'], ft: ['ft', 'foot', 'feet'], in: ['inch', 'inches'],
  s: ['s', 'sec', 'secs', 'second', 'seconds'], ms: ['ms', 'millisecond', 'milliseconds'], min: ['min', 'mins', 'minute', 'minutes'],
  h: ['h', 'hr', 'hrs', 'hour', 'hours'], d: ['day', 'days'], wk: ['week', 'weeks'], mo: ['month', 'months'], yr: ['year', 'years', 'yr', 'yrs'],
  '%': ['%', 'percent', 'pct'], usd: ['$', 'usd', 'dollar', 'dollars'], eur: ['€', 'eur', 'euro', 'euros'], gbp: ['£', 'gbp'],
  c: ['°c', 'celsius'], f: ['°f', 'fahrenheit'], gb: ['gb', 'gigabyte', 'gigabytes', 'gib'], mb: ['mb', 'megabyte', 'megabytes', 'mib'],
  kb: ['kb', 'kilobyte', 'kilobytes', 'kib'], tb: ['tb', 'terabyte', 'terabytes', 'tib'], ghz: ['ghz'], mhz: ['mhz'], w: ['w', 'watt', 'watts'],
  v: ['v', 'volt', 'volts'], x: ['x', 'times'], mph: ['mph'], kmh: ['kmh', 'km/h'], cal: ['cal', 'kcal', 'calorie', 'calories'], iu: ['iu'],
})) for (const s of spellings) UNITS[s] = unit;

/** Lower-cased word tokens, with contractions and numbers with attached units split ("5mg" → "5", "mg"). */
function words(text: string): string[] {
  const out: string[] = [];
  const re = /(\d[\d,]*(?:\.\d+)?|\.\d+)|([$€£%])|(°[cf])|([\p{L}][\p{L}\p{M}'’-]*)/giu;
  for (const m of text.toLowerCase().matchAll(re)) {
    if (m[1] !== undefined) out.push(m[1].replace(/,(?=\d{3}\b)/g, ''));
    else if (m[2] !== undefined || m[3] !== undefined) out.push((m[2] ?? m[3])!);
    else {
      const w = m[4]!.replace(/’/g, "'");
      if (/n't$/.test(w)) {
        out.push(w === "can't" ? 'can' : w === "won't" ? 'will' : w.slice(0, -3), 'not');
      } else out.push(w.replace(/'(s|re|ve|ll|d|m)$/, '').replace(/'/g, ''));
    }
  }
  return out;
}

/** The numbers of a text with their units, normalised and sorted ("5 mg", "2 x", "0.5 h"). */
function numbers(ws: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < ws.length; i++) {
    const w = ws[i]!;
    let value: number | undefined;
    if (/^[\d.]/.test(w)) value = Number(w);
    else if (w in NUMBER_WORDS && !(w in MULTIPLIERS)) value = NUMBER_WORDS[w];
    else if (w in MULTIPLIERS && i > 0 && /^[\d.]/.test(ws[i - 1]!)) continue;
    if (value === undefined || Number.isNaN(value)) continue;
    let j = i + 1;
    // "5 thousand", "twenty five"
    while (j < ws.length) {
      const next = ws[j]!;
      if (next in MULTIPLIERS && (next !== 'm' || !/^[a-z]/.test(ws[j + 1] ?? ''))) value *= MULTIPLIERS[next]!;
      else if (next in NUMBER_WORDS && NUMBER_WORDS[next]! < 10 && value >= 20 && value < 100 && value % 10 === 0) value += NUMBER_WORDS[next]!;
      else break;
      j++;
    }
    // A currency sign before the number is its unit ("$5").
    const before = i > 0 ? UNITS[ws[i - 1]!] : undefined;
    const unit = UNITS[ws[j] ?? ''] ?? (before === 'usd' || before === 'eur' || before === 'gbp' ? before : '');
    out.push(`${value}${unit ? ' ' + unit : ''}`);
    i = j - 1;
  }
  return out.sort();
}

/** A text's guard facts: negation count, the pole taken on each antonym dimension, numbers with units. */
export interface GuardFacts {
  negations: number;
  /** dimension → '+', '-' or '±' (both sides named). */
  poles: Map<string, string>;
  numbers: string;
}

export function guardFacts(text: string): GuardFacts {
  const ws = words(text);
  let negations = 0;
  const poles = new Map<string, string>();
  const pole = (p: string) => {
    const dim = p.slice(0, -1);
    const side = p.slice(-1);
    const had = poles.get(dim);
    poles.set(dim, had === undefined || had === side ? side : '±');
  };
  for (let i = 0; i < ws.length; i++) {
    const w = ws[i]!;
    if (NEGATIONS.has(w)) negations++;
    if (w === 'on') {
      if (i > 0 && SWITCH_VERBS.has(ws[i - 1]!)) pole('switch+');
      continue;
    }
    if (w === 'in' || w === 'out') {
      if (i > 0 && IN_OUT_VERBS.has(ws[i - 1]!)) pole(w === 'in' ? 'direction+' : 'direction-');
      continue;
    }
    const p = POLE.get(w);
    if (p !== undefined) pole(p);
  }
  return { negations, poles, numbers: numbers(ws).join(',') };
}

/** The facts as one line (for logs, tests and the bench). */
export function guardSignature(text: string): string {
  const f = guardFacts(text);
  const poles = [...f.poles].map(([d, s]) => d + s).sort().join(',');
  return `neg=${f.negations}|${poles}|${f.numbers}`;
}

function compatible(a: GuardFacts, b: GuardFacts): boolean {
  if (a.negations !== b.negations || a.numbers !== b.numbers) return false;
  for (const [dim, side] of a.poles) {
    const other = b.poles.get(dim);
    if (other !== undefined && other !== side) return false;
  }
  return true;
}

/** Words written as names in `text`: capitalised or all capitals, except where a sentence starts. */
function names(text: string): Set<string> {
  const out = new Set<string>();
  for (const m of text.matchAll(/(?<![\p{L}\p{N}'’-])\p{Lu}[\p{L}\p{N}]*(?:-[\p{L}\p{N}]+)*/gu)) {
    const w = m[0];
    const sentenceStart = /(^|[.!?:;\n])[\s"'(*-]*$/u.test(text.slice(Math.max(0, m.index - 8), m.index)) || m.index === 0;
    const acronym = w.length > 1 && w === w.toUpperCase();
    if ((!sentenceStart || acronym) && w !== 'I') out.add(w.toLowerCase());
  }
  return out;
}

/** True when every name of either text appears in the other (case-insensitively). */
function sameNames(a: string, b: string): boolean {
  const na = names(a);
  const nb = names(b);
  if (na.size === 0 && nb.size === 0) return true;
  const wa = new Set(words(a));
  const wb = new Set(words(b));
  for (const n of na) if (!wb.has(n)) return false;
  for (const n of nb) if (!wa.has(n)) return false;
  return true;
}

/** May a stored answer to `stored` serve `query`? Same negations and numbers, no conflicting poles, same names. */
export function guardAllows(query: string, stored: string): boolean {
  return compatible(guardFacts(query), guardFacts(stored)) && sameNames(query, stored);
}
