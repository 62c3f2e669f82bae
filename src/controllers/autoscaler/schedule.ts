// Schedule windows, pure: which named windows are active at an instant, the min/max replica bounds they give, and
// the admission check of one entry. Business hours and nightly batches, as AIBrix's and KEDA's cron scalers.
//
// Rules:
//  - A window opens at each time its 5-field cron (minute hour day-of-month month day-of-week, as a CronJob; macros
//    such as @daily are accepted) fires in its IANA time zone (default UTC), and stays open for `duration` (a Go
//    duration) of elapsed time: [start, start + duration). A window is active at `now` when its latest start is in
//    (now - duration, now]. So a window may span midnight or several days, and consecutive starts may overlap.
//  - Daylight saving time, via croner's fixed-time rule: `0 9 * * *` opens at 09:00 local time every day, on the
//    change days too (07:00 UTC in summer, 08:00 UTC in winter). A start inside the spring-forward gap (02:30 in
//    Europe/Berlin) opens at the first valid time after the gap (03:00); a start in the repeated autumn hour opens
//    once, at its first occurrence. The duration is elapsed time, so a 9h window opened at 01:00 on the
//    spring-forward day closes at 11:00 local, not 10:00.
//  - Overlaps: the largest min and the largest max of the active windows win, each against the base bounds only
//    when no window sets it (a window's max replaces the base max even when smaller: "at most 2 at night" must
//    hold). If the result has min > max, max is raised to min: a floor someone scheduled is never silently lost.
//  - An entry that does not validate is ignored here (admission refuses it; this is the read side).

import { Cron } from 'croner';
import { parseDuration } from '../../kube/units.ts';
import type { FieldError } from '../../api/admission.ts';

export interface ScheduleEntry {
  name: string;
  /** When the window opens: 5-field cron. */
  cron: string;
  /** How long it stays open: a Go duration such as `9h` or `30m`. */
  duration: string;
  /** IANA time zone the cron is read in; UTC when absent. */
  timeZone?: string;
  minReplicas?: number;
  maxReplicas?: number;
}

export interface Bounds {
  min: number;
  max: number;
}

export interface EffectiveBounds extends Bounds {
  /** Names of the active windows, in entry order. */
  active: string[];
}

export interface ActiveWindow {
  entry: ScheduleEntry;
  /** When this occurrence opened and will close, ms since epoch. */
  start: number;
  end: number;
}

/** The windows open at `now`, in entry order. */
export function activeSchedules(entries: readonly ScheduleEntry[], now: Date): ActiveWindow[] {
  const out: ActiveWindow[] = [];
  for (const entry of entries) {
    const window = openWindow(entry, now.getTime());
    if (window) out.push(window);
  }
  return out;
}

/** The bounds in force at `now`: the base bounds adjusted by every active window (see the rules above). */
export function boundsAt(entries: readonly ScheduleEntry[], base: Bounds, now: Date): EffectiveBounds {
  const active = activeSchedules(entries, now);
  let min: number | undefined;
  let max: number | undefined;
  for (const { entry } of active) {
    if (entry.minReplicas !== undefined) min = Math.max(min ?? -Infinity, entry.minReplicas);
    if (entry.maxReplicas !== undefined) max = Math.max(max ?? -Infinity, entry.maxReplicas);
  }
  const effectiveMin = min ?? base.min;
  const effectiveMax = Math.max(max ?? base.max, effectiveMin);
  return { min: effectiveMin, max: effectiveMax, active: active.map((w) => w.entry.name) };
}

/** The next time any window opens or closes after `now`: when the controller should look again. */
export function nextTransition(entries: readonly ScheduleEntry[], now: Date): Date | undefined {
  let next = Infinity;
  for (const entry of entries) {
    const parsed = parse(entry);
    if (!parsed) continue;
    const open = parsed.cron.nextRun(now)?.getTime();
    if (open !== undefined) next = Math.min(next, open);
    const window = openWindow(entry, now.getTime());
    if (window) next = Math.min(next, window.end);
  }
  return next === Infinity ? undefined : new Date(next);
}

/** Every problem with one entry, as field errors under `path` (e.g. `spec.schedules[2]`). */
export function validateSchedule(entry: ScheduleEntry, path: string): FieldError[] {
  const errors: FieldError[] = [];
  if (!entry.name) errors.push({ field: `${path}.name`, type: 'Required value' });
  const timeZone = entry.timeZone ?? 'UTC';
  const zoneOk = isTimeZone(timeZone);
  if (!zoneOk) errors.push({ field: `${path}.timeZone`, type: 'Invalid value', value: entry.timeZone, detail: 'unknown IANA time zone' });
  const cronProblem = cronError(entry.cron, zoneOk ? timeZone : 'UTC');
  if (cronProblem) errors.push({ field: `${path}.cron`, type: 'Invalid value', value: entry.cron, detail: cronProblem });
  const duration = parseDuration(entry.duration ?? '');
  if (duration === undefined || !(duration > 0)) errors.push({ field: `${path}.duration`, type: 'Invalid value', value: entry.duration, detail: 'must be a positive duration such as 9h or 30m' });
  for (const k of ['minReplicas', 'maxReplicas'] as const) {
    const v = entry[k];
    if (v !== undefined && (!Number.isInteger(v) || v < 0)) errors.push({ field: `${path}.${k}`, type: 'Invalid value', value: v, detail: 'must be a non-negative integer' });
  }
  if (entry.minReplicas === undefined && entry.maxReplicas === undefined) errors.push({ field: path, type: 'Required value', detail: 'minReplicas or maxReplicas must be set' });
  if (entry.minReplicas !== undefined && entry.maxReplicas !== undefined && entry.minReplicas > entry.maxReplicas) {
    errors.push({ field: `${path}.minReplicas`, type: 'Invalid value', value: entry.minReplicas, detail: `must be less than or equal to maxReplicas (${entry.maxReplicas})` });
  }
  return errors;
}

/** Field errors for a list of entries, including duplicate names (status reports windows by name). */
export function validateSchedules(entries: readonly ScheduleEntry[], path: string): FieldError[] {
  const errors: FieldError[] = [];
  const seen = new Set<string>();
  entries.forEach((entry, i) => {
    errors.push(...validateSchedule(entry, `${path}[${i}]`));
    if (entry.name && seen.has(entry.name)) errors.push({ field: `${path}[${i}].name`, type: 'Duplicate value', value: entry.name });
    seen.add(entry.name);
  });
  return errors;
}

// ---- helpers ------------------------------------------------------------------------------------------------

/** The occurrence of `entry` open at `now`, if any: a start in (now - duration, now]. */
function openWindow(entry: ScheduleEntry, now: number): ActiveWindow | undefined {
  const parsed = parse(entry);
  if (!parsed) return undefined;
  // The latest start at or before now (previousRuns excludes a run exactly at its reference, hence the 1 ms; runs
  // fall on whole seconds, so nothing after now can slip in). The latest, because with overlapping occurrences
  // it closes last. The end is exclusive: a window that opened exactly `duration` ago is closed.
  const start = parsed.cron.previousRuns(1, new Date(now + 1))[0]?.getTime();
  if (start === undefined || start + parsed.durationMs <= now) return undefined;
  return { entry, start, end: start + parsed.durationMs };
}

interface Parsed {
  cron: Cron;
  durationMs: number;
}

// Parsing a pattern costs more than evaluating it, and the controller asks about the same few entries every period.
// Keyed by the fields that matter; bounded so a churn of edited schedules cannot grow it without end.
const cache = new Map<string, Parsed | null>();
const CACHE_LIMIT = 1024;

function parse(entry: ScheduleEntry): Parsed | undefined {
  const key = `${entry.cron}\u0000${entry.timeZone ?? 'UTC'}\u0000${entry.duration}`;
  let parsed = cache.get(key);
  if (parsed === undefined) {
    parsed = build(entry);
    if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value!);
    cache.set(key, parsed);
  }
  return parsed ?? undefined;
}

function build(entry: ScheduleEntry): Parsed | null {
  const durationMs = parseDuration(entry.duration ?? '');
  const timeZone = entry.timeZone ?? 'UTC';
  if (durationMs === undefined || !(durationMs > 0) || !isTimeZone(timeZone)) return null;
  try {
    return { cron: new Cron(entry.cron, { timezone: timeZone, mode: '5-part' }), durationMs };
  } catch {
    return null;
  }
}

function cronError(pattern: string | undefined, timeZone: string): string | undefined {
  if (!pattern) return 'must be a 5-field cron expression';
  try {
    const cron = new Cron(pattern, { timezone: timeZone, mode: '5-part' });
    // A pattern that parses but never fires (`0 0 30 2 *`, 30 February) would be a window that never opens.
    if (cron.nextRun(new Date(0)) === null) return 'never fires';
    return undefined;
  } catch (e) {
    return (e as Error).message.replace(/^CronPattern: /, '');
  }
}

function isTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone });
    return true;
  } catch {
    return false;
  }
}
