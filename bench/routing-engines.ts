// Child process of the routing benchmark: simulated engines on the given loopback IPs (one shared port), so their
// CPU is not the gateway's. argv[2] is JSON {ips: string[], port: number, args: string[]}. Prints "ready <port>"
// once all listen; exits (closing them) when stdin closes or on SIGTERM.
import { startEngine, type EngineServer } from '../src/engine/server.ts';
import { parseEngineArgs } from '../src/engine/options.ts';

const { ips, port, args } = JSON.parse(process.argv[2]!) as { ips: string[]; port: number; args: string[] };
const engines: EngineServer[] = [];
let shared = port;
for (const ip of ips) {
  const e = await startEngine(parseEngineArgs([...args, '--host', ip, '--port', String(shared)], { warn: () => {} }));
  shared = e.port;
  engines.push(e);
}
process.stdout.write(`ready ${shared}\n`);

let closing = false;
async function shutdown(): Promise<void> {
  if (closing) return;
  closing = true;
  await Promise.allSettled(engines.map((e) => e.close()));
  process.exit(0);
}
process.stdin.on('end', shutdown);
process.stdin.on('close', shutdown);
process.stdin.resume();
process.on('SIGTERM', shutdown);
