import { test } from 'node:test';
import assert from 'node:assert/strict';
import { activeSchedules, boundsAt, nextTransition, validateSchedule, validateSchedules, type ScheduleEntry } from './schedule.ts';

const at = (iso: string) => new Date(iso);
const names = (entries: ScheduleEntry[], iso: string) => activeSchedules(entries, at(iso)).map((w) => w.entry.name);

const business: ScheduleEntry = { name: 'business-hours', cron: '0 9 * * 1-5', duration: '9h', timeZone: 'Europe/Berlin', minReplicas: 4 };

test('a 09:00 Europe/Berlin window opens at 09:00 local on both DST change days', () => {
  const daily: ScheduleEntry = { name: 'day', cron: '0 9 * * *', duration: '9h', timeZone: 'Europe/Berlin', minReplicas: 4 };
  // 29 March 2026: clocks go 02:00 → 03:00, so 09:00 local is 07:00 UTC (it was 08:00 UTC the day before).
  assert.deepEqual(names([daily], '2026-03-28T07:30:00Z'), [], '08:30 CET on the Saturday');
  assert.deepEqual(names([daily], '2026-03-28T08:00:00Z'), ['day']);
  assert.deepEqual(names([daily], '2026-03-29T06:59:59Z'), [], '08:59:59 CEST');
  assert.deepEqual(names([daily], '2026-03-29T07:00:00Z'), ['day'], '09:00 CEST');
  assert.deepEqual(names([daily], '2026-03-29T15:59:59Z'), ['day'], '17:59:59 CEST');
  assert.deepEqual(names([daily], '2026-03-29T16:00:00Z'), [], '18:00 CEST: the end is exclusive');
  // 25 October 2026: clocks go 03:00 → 02:00, so 09:00 local is 08:00 UTC again.
  assert.deepEqual(names([daily], '2026-10-25T07:30:00Z'), [], '08:30 CET');
  assert.deepEqual(names([daily], '2026-10-25T08:00:00Z'), ['day'], '09:00 CET');
  const [w] = activeSchedules([daily], at('2026-10-25T12:00:00Z'));
  assert.equal(new Date(w!.start).toISOString(), '2026-10-25T08:00:00.000Z');
  assert.equal(new Date(w!.end).toISOString(), '2026-10-25T17:00:00.000Z');
});

test('a start in the spring-forward gap opens after the gap; one in the repeated autumn hour opens once', () => {
  const night: ScheduleEntry = { name: 'batch', cron: '30 2 * * *', duration: '1h', timeZone: 'Europe/Berlin', maxReplicas: 2 };
  const [spring] = activeSchedules([night], at('2026-03-29T01:10:00Z'));
  assert.equal(new Date(spring!.start).toISOString(), '2026-03-29T01:00:00.000Z', '02:30 does not exist: opens at 03:00 CEST');
  const [autumn] = activeSchedules([night], at('2026-10-25T01:10:00Z'));
  assert.equal(new Date(autumn!.start).toISOString(), '2026-10-25T00:30:00.000Z', 'first 02:30 (CEST), not the second');
  assert.deepEqual(names([night], '2026-10-25T01:40:00Z'), [], 'the second 02:30 (CET) opens nothing');
});

test('a window spanning midnight, and the weekday field read in the window zone', () => {
  const nightly: ScheduleEntry = { name: 'nightly', cron: '0 22 * * *', duration: '8h', timeZone: 'America/New_York', maxReplicas: 2 };
  // 22:00 EST = 03:00 UTC next day; open until 06:00 EST = 11:00 UTC.
  assert.deepEqual(names([nightly], '2026-01-15T02:59:00Z'), []);
  assert.deepEqual(names([nightly], '2026-01-15T03:00:00Z'), ['nightly']);
  assert.deepEqual(names([nightly], '2026-01-15T05:30:00Z'), ['nightly'], 'after midnight local');
  assert.deepEqual(names([nightly], '2026-01-15T10:59:00Z'), ['nightly']);
  assert.deepEqual(names([nightly], '2026-01-15T11:00:00Z'), []);
  // Friday 9:00 Berlin opens; Saturday does not (Mon–Fri).
  assert.deepEqual(names([business], '2026-01-16T08:30:00Z'), ['business-hours'], 'Friday 09:30 CET');
  assert.deepEqual(names([business], '2026-01-17T08:30:00Z'), [], 'Saturday');
});

test('bounds: windows replace the base bounds; overlaps take the largest min and the largest max', () => {
  const base = { min: 1, max: 10 };
  const peak: ScheduleEntry = { name: 'peak', cron: '0 12 * * *', duration: '2h', minReplicas: 6, maxReplicas: 20 };
  const day: ScheduleEntry = { name: 'day', cron: '0 8 * * *', duration: '10h', minReplicas: 3 };
  const night: ScheduleEntry = { name: 'night', cron: '0 0 * * *', duration: '6h', minReplicas: 0, maxReplicas: 2 };
  const entries = [day, peak, night];
  assert.deepEqual(boundsAt(entries, base, at('2026-05-04T07:00:00Z')), { min: 1, max: 10, active: [] });
  assert.deepEqual(boundsAt(entries, base, at('2026-05-04T09:00:00Z')), { min: 3, max: 10, active: ['day'] });
  assert.deepEqual(boundsAt(entries, base, at('2026-05-04T12:30:00Z')), { min: 6, max: 20, active: ['day', 'peak'] });
  assert.deepEqual(boundsAt(entries, base, at('2026-05-04T03:00:00Z')), { min: 0, max: 2, active: ['night'] }, 'a smaller max holds');
  const clash: ScheduleEntry = { name: 'clash', cron: '0 0 * * *', duration: '6h', minReplicas: 5 };
  assert.deepEqual(boundsAt([night, clash], base, at('2026-05-04T03:00:00Z')), { min: 5, max: 5, active: ['night', 'clash'] }, 'min over max: max rises to min');
});

test('overlapping occurrences of one entry, and the next transition', () => {
  const long: ScheduleEntry = { name: 'long', cron: '0 */6 * * *', duration: '8h', minReplicas: 2 };
  assert.equal(activeSchedules([long], at('2026-05-04T07:00:00Z')).length, 1, 'one entry counts once; the latest start wins');
  assert.equal(new Date(activeSchedules([long], at('2026-05-04T07:00:00Z'))[0]!.start).toISOString(), '2026-05-04T06:00:00.000Z');
  const entries: ScheduleEntry[] = [{ name: 'a', cron: '0 9 * * *', duration: '1h', minReplicas: 2 }];
  assert.equal(nextTransition(entries, at('2026-05-04T08:00:00Z'))?.toISOString(), '2026-05-04T09:00:00.000Z');
  assert.equal(nextTransition(entries, at('2026-05-04T09:10:00Z'))?.toISOString(), '2026-05-04T10:00:00.000Z');
  assert.equal(nextTransition([], at('2026-05-04T09:10:00Z')), undefined);
});

test('validation: field paths for each problem; invalid entries are ignored by the read side', () => {
  assert.deepEqual(validateSchedule(business, 'spec.schedules[0]'), []);
  const bad: ScheduleEntry = { name: 'x', cron: '61 9 * * *', duration: '0s', timeZone: 'Mars/Olympus', minReplicas: 5, maxReplicas: 2 };
  const errors = validateSchedule(bad, 'spec.schedules[1]');
  assert.deepEqual(errors.map((e) => e.field), ['spec.schedules[1].timeZone', 'spec.schedules[1].cron', 'spec.schedules[1].duration', 'spec.schedules[1].minReplicas']);
  assert.match(errors[1]!.detail!, /minute/);
  const fields = (e: ScheduleEntry) => validateSchedule(e, 's').map((x) => `${x.field}: ${x.type}`);
  assert.deepEqual(fields({ name: 'x', cron: '0 9 * * * *', duration: '1h', minReplicas: 1 }), ['s.cron: Invalid value'], 'six fields (seconds) are refused');
  assert.deepEqual(fields({ name: 'x', cron: 'every day', duration: '1h', minReplicas: 1 }), ['s.cron: Invalid value']);
  assert.deepEqual(fields({ name: 'x', cron: '0 0 30 2 *', duration: '1h', minReplicas: 1 }), ['s.cron: Invalid value'], '30 February never fires');
  assert.deepEqual(fields({ name: 'x', cron: '@daily', duration: '1h', minReplicas: 1 }), []);
  assert.deepEqual(fields({ name: 'x', cron: '0 9 * * *', duration: '-1h', minReplicas: 1 }), ['s.duration: Invalid value']);
  assert.deepEqual(fields({ name: 'x', cron: '0 9 * * *', duration: 'soon', minReplicas: 1 }), ['s.duration: Invalid value']);
  assert.deepEqual(fields({ name: 'x', cron: '0 9 * * *', duration: '1h' }), ['s: Required value'], 'a window that sets nothing');
  assert.deepEqual(fields({ name: 'x', cron: '0 9 * * *', duration: '1h', minReplicas: -1 }), ['s.minReplicas: Invalid value']);
  assert.deepEqual(fields({ name: '', cron: '0 9 * * *', duration: '1h', maxReplicas: 3 }), ['s.name: Required value']);
  const dup = validateSchedules([business, business], 'spec.schedules');
  assert.deepEqual(dup.map((e) => `${e.field}: ${e.type}`), ['spec.schedules[1].name: Duplicate value']);
  assert.deepEqual(activeSchedules([bad], at('2026-05-04T09:30:00Z')), []);
});
