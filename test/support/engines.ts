// Simulated engines for gateway tests: near-zero latency flags, and reading an engine's own metrics.

/** Engine argv for `parseEngineArgs`: `model` served on ip:port with 1 ms steps and free prefill, plus `extra`. */
export function fastEngineArgs(model: string, ip: string, port: number, extra: string[] = []): string[] {
  return [
    model, '--host', ip, '--port', String(port),
    '--time-to-first-token-ms', '1', '--inter-token-latency-ms', '1', '--inter-token-latency-per-seq-ms', '0', '--prefill-time-per-token-ms', '0',
    ...extra,
  ];
}

/** Sum of an engine metric's samples whose labels contain `labels` (e.g. `finished_reason="abort"`). */
export async function engineMetric(engineUrl: string, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(engineUrl + '/metrics')).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{')) continue;
    const close = line.indexOf('} ');
    if (line.slice(0, close).includes(labels)) sum += Number(line.slice(close + 2));
  }
  return sum;
}
