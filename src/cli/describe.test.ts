import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventsText, type CoreEvent } from './describe.ts';

test('events are listed oldest first, by series, lastTimestamp, eventTime or firstTimestamp as kubectl sorts them', () => {
  const now = Date.parse('2026-01-01T01:00:00Z');
  const events: CoreEvent[] = [
    { reason: 'Third', lastTimestamp: '2026-01-01T00:50:00Z', firstTimestamp: '2026-01-01T00:00:00Z', metadata: {} },
    { reason: 'First', firstTimestamp: '2026-01-01T00:10:00Z', metadata: {} },
    { reason: 'Fourth', eventTime: '2026-01-01T00:30:00Z', series: { lastObservedTime: '2026-01-01T00:55:00Z' }, metadata: {} },
    { reason: 'Second', eventTime: '2026-01-01T00:20:00Z', metadata: {} },
  ];
  const lines = eventsText(events, now).split('\n');
  assert.deepEqual(lines.slice(2).map((line) => line.trim().split(/\s+/)[0]), ['First', 'Second', 'Third', 'Fourth']);
  assert.match(lines[2]!, /First\s+50m/);
  assert.equal(eventsText([], now), 'Events:  <none>');
});
