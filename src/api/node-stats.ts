// The contract between the node agent, which measures what its pods use, and the embedded API server, which serves
// that as metrics.k8s.io/v1beta1 (src/apiserver/metrics.ts) the way metrics-server does on clusters from the
// kubelets. The agent serves `GET /stats/summary` on the node's address and names the URL in an annotation of its
// Node; the API server reads it there when a PodMetrics or NodeMetrics request comes in.
//
// The field names follow the kubelet's Summary API (/stats/summary: podRef, cpu.usageNanoCores,
// memory.workingSetBytes) so the shape is familiar; unlike the kubelet, the agent reports rates already computed over
// one sampling window, and `window` (a Go duration, as metrics-server prints it) says how long that was.

/** On the Node: `http://<node address>:<port>`, where the node agent serves /stats/summary. */
export const NODE_STATS_ENDPOINT_ANNOTATION = 'node.matrixinfer.ai/stats-endpoint';
export const NODE_STATS_PATH = '/stats/summary';

export interface UsageStats {
  /** The end of the window (RFC 3339). */
  time: string;
  /** The window the CPU rate was measured over, a Go duration (`10s`, `10.004s`). */
  window: string;
  /** CPU over the window, in nanocores (1e9 = one core busy). */
  usageNanoCores: number;
  /** Resident memory at the end of the window, bytes (the agent's stand-in for the working set). */
  workingSetBytes: number;
}

export interface ContainerStats extends UsageStats {
  name: string;
}

export interface PodStats {
  podRef: { namespace: string; name: string; uid: string };
  containers: ContainerStats[];
}

export interface StatsSummary {
  node: { nodeName: string } & Partial<UsageStats>;
  pods: PodStats[];
}

/** A window in milliseconds as Go's time.Duration.String() prints it (`10s`, `10.004s`, `1m5s`, `500ms`). */
export function formatGoDuration(ms: number): string {
  const whole = Math.max(0, Math.round(ms));
  if (whole === 0) return '0s';
  if (whole < 1000) return `${whole}ms`;
  const trim = (s: number) => String(Number(s.toFixed(3)));
  const minutes = Math.floor(whole / 60_000);
  const seconds = (whole - minutes * 60_000) / 1000;
  if (minutes === 0) return `${trim(seconds)}s`;
  const hours = Math.floor(minutes / 60);
  const m = minutes % 60;
  return `${hours > 0 ? `${hours}h` : ''}${m}m${trim(seconds)}s`;
}
