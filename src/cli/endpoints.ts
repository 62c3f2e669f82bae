// `$MATRIXINFER_HOME/endpoints.json`: where `matrixinfer up`'s components answer, for tools (a Prometheus scrape
// configuration, the metrics test, scripts) that should not guess ports. One pure function builds the document from
// the ports, so a component's entry is one line; the file is written atomically (temp file + rename) once every
// component is up, and removed on a clean stop, so a file that exists describes a platform that was running.
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const ENDPOINTS_FILE = 'endpoints.json';

export interface EndpointPorts {
  /** Loopback address the components listen on. */
  host: string;
  apiserver: number;
  controllerManagerMetrics: number;
  /** The web dashboard (served by the controller manager). */
  dashboard: number;
  agent: number;
  /** Whether the agent serves /stats/summary (Linux: it measures from /proc). */
  agentStats: boolean;
  gateway: number;
  gatewayTls: number;
  gatewayGrpc: number;
}

export interface EndpointsDocument {
  apiserver: { url: string; metrics: string };
  'controller-manager': { metrics: string };
  agent: { metrics: string; stats?: string };
  /** `grpc` is host:port, as gRPC clients take it. */
  gateway: { url: string; tls: string; grpc: string; metrics: string };
  dashboard: { url: string };
}

export function endpointsDocument(p: EndpointPorts): EndpointsDocument {
  const http = (port: number, path = '') => `http://${p.host}:${port}${path}`;
  return {
    apiserver: { url: http(p.apiserver), metrics: http(p.apiserver, '/metrics') },
    'controller-manager': { metrics: http(p.controllerManagerMetrics, '/metrics') },
    agent: { metrics: http(p.agent, '/metrics'), ...(p.agentStats ? { stats: http(p.agent, '/stats/summary') } : {}) },
    gateway: { url: http(p.gateway), tls: `https://${p.host}:${p.gatewayTls}`, grpc: `${p.host}:${p.gatewayGrpc}`, metrics: http(p.gateway, '/metrics') },
    dashboard: { url: http(p.dashboard, '/') },
  };
}

export function endpointsPath(home: string): string {
  return join(home, ENDPOINTS_FILE);
}

/** Write the document atomically: readers see the old file or the whole new one, never a part. */
export function writeEndpoints(home: string, doc: EndpointsDocument): string {
  const path = endpointsPath(home);
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, JSON.stringify(doc, null, 2) + '\n');
  renameSync(temp, path);
  return path;
}

export function removeEndpoints(home: string): void {
  rmSync(endpointsPath(home), { force: true });
}
