// An endpoint is one engine pod reachable at ip:port. Endpoint objects outlive routing-table rebuilds (the
// registry hands back the same object for the same pod and address), so the gateway's own per-pod counters
// survive changes elsewhere in the world; an endpoint that leaves the table while requests are still running on
// it is kept (inactive) until they finish, so its counter is never reset under them.

export class Endpoint {
  /** `namespace/pod@ip:port`. */
  readonly key: string;
  readonly namespace: string;
  readonly podName: string;
  readonly ip: string;
  readonly port: number;
  /** `http://ip:port` — the upstream connection pool key. */
  readonly origin: string;
  /** `namespace/pod`, as logged. */
  readonly podKey: string;
  /** Requests the gateway has sent to this endpoint and not yet finished. */
  inflight = 0;
  /** Requests ever sent here (exported as a metric). */
  served = 0;
  /** Present in the current routing table. */
  active = true;

  constructor(namespace: string, podName: string, ip: string, port: number) {
    this.namespace = namespace;
    this.podName = podName;
    this.ip = ip;
    this.port = port;
    this.podKey = `${namespace}/${podName}`;
    this.origin = ip.includes(':') ? `http://[${ip}]:${port}` : `http://${ip}:${port}`;
    this.key = endpointKey(namespace, podName, ip, port);
  }
}

export function endpointKey(namespace: string, podName: string, ip: string, port: number): string {
  return `${namespace}/${podName}@${ip}:${port}`;
}

export class EndpointRegistry {
  readonly #byKey = new Map<string, Endpoint>();

  /** The endpoint for this pod and address, created on first use. */
  obtain(namespace: string, podName: string, ip: string, port: number): Endpoint {
    const key = endpointKey(namespace, podName, ip, port);
    let ep = this.#byKey.get(key);
    if (!ep) {
      ep = new Endpoint(namespace, podName, ip, port);
      this.#byKey.set(key, ep);
    }
    return ep;
  }

  /** After a rebuild: endpoints not in `live` become inactive, and are forgotten once idle. */
  retain(live: ReadonlySet<Endpoint>): void {
    for (const [key, ep] of this.#byKey) {
      if (live.has(ep)) {
        ep.active = true;
      } else {
        ep.active = false;
        if (ep.inflight === 0) this.#byKey.delete(key);
      }
    }
  }

  /** Origins of every endpoint still known (active, or inactive with requests running). */
  origins(): Set<string> {
    const out = new Set<string>();
    for (const ep of this.#byKey.values()) out.add(ep.origin);
    return out;
  }

  all(): IterableIterator<Endpoint> {
    return this.#byKey.values();
  }

  get size(): number {
    return this.#byKey.size;
  }
}
