// The environment variables of the production-stack router controller (seed 004) read by `matrixinfer
// controller-manager`, so its Deployment's env carries over. Flags win over them; pure, over a given environment.
//   KUBERNETES_NAMESPACE     the namespace the controller runs in: our $POD_NAMESPACE when that is unset (the Lease,
//                            the webhook certificate Secret, the gateway pods' default namespace)
//   METRICS_ADDR             [host]:port of GET /metrics (controller-runtime's form; "0" turns it off)
//   HEALTH_PROBE_ADDR        [host]:port of /healthz and /readyz
//   LEADER_ELECTION_ENABLED  true/false
//   GPU_METRICS_ENDPOINT     not used: the autoscaler reads DCGM_FI_DEV_GPU_UTIL from the engine pods (or a
//                            prometheus query); the gateway scores engines on their own queue and KV-cache metrics
export interface Address {
  host?: string;
  port: number;
}

export interface SeedEnvironment {
  podNamespace?: string;
  /** undefined: not set; null: set to "0" (off). */
  metrics?: Address | null;
  health?: Address;
  leaderElect?: boolean;
  /** Set but not used, with why. */
  ignored: string[];
  /** Values that did not parse. */
  errors: string[];
}

/** `:8080`, `0.0.0.0:8080`, `8080` → an address; `0` → null (off). */
export function parseAddress(value: string): Address | null | undefined {
  const text = value.trim();
  if (text === '0') return null;
  const match = /^(?:(\[[^\]]+\]|[^:]*):)?(\d{1,5})$/.exec(text);
  if (!match) return undefined;
  const port = Number(match[2]);
  if (port < 1 || port > 65535) return undefined;
  const host = match[1]?.replace(/^\[|\]$/g, '');
  return { ...(host ? { host } : {}), port };
}

export function seedEnvironment(env: NodeJS.ProcessEnv): SeedEnvironment {
  const out: SeedEnvironment = { ignored: [], errors: [] };
  if (env.KUBERNETES_NAMESPACE && !env.POD_NAMESPACE) out.podNamespace = env.KUBERNETES_NAMESPACE;
  for (const [name, key] of [['METRICS_ADDR', 'metrics'], ['HEALTH_PROBE_ADDR', 'health']] as const) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    const address = parseAddress(value);
    if (address === undefined) out.errors.push(`${name}=${value}: expected [host]:port or 0`);
    else if (key === 'metrics') out.metrics = address;
    else if (address) out.health = address;
  }
  const leader = env.LEADER_ELECTION_ENABLED?.trim().toLowerCase();
  if (leader !== undefined && leader !== '') {
    if (['true', '1', 'yes'].includes(leader)) out.leaderElect = true;
    else if (['false', '0', 'no'].includes(leader)) out.leaderElect = false;
    else out.errors.push(`LEADER_ELECTION_ENABLED=${env.LEADER_ELECTION_ENABLED}: expected true or false`);
  }
  if (env.GPU_METRICS_ENDPOINT) {
    out.ignored.push(
      'GPU_METRICS_ENDPOINT: not used; the autoscaler reads DCGM_FI_DEV_GPU_UTIL from the engine pods (or through a prometheus query) and the gateway scores engines on their queue and KV-cache metrics',
    );
  }
  return out;
}
