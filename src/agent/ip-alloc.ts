// Pod IPs from the loopback range: 127.0.x.y with x in 1..254 and y in 2..254 (64 262 addresses; 127.0.0.1 is the
// node's own address and never handed out). Linux routes all of 127.0.0.0/8 to `lo`, so a process can bind any of
// them without configuration. The address is derived from the pod uid (stable across agent restarts even without
// the stored status), probing linearly on collision; an address is never handed to a second pod while in use.

const X_MIN = 1;
const X_MAX = 254;
const Y_MIN = 2;
const Y_MAX = 254;
const Y_COUNT = Y_MAX - Y_MIN + 1;
export const POD_IP_COUNT = (X_MAX - X_MIN + 1) * Y_COUNT;

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export function ipForIndex(i: number): string {
  return `127.0.${X_MIN + Math.floor(i / Y_COUNT)}.${Y_MIN + (i % Y_COUNT)}`;
}

/** Index of an address in the pod range, or undefined when it is not a pod address. */
export function indexOfIp(ip: string): number | undefined {
  const m = /^127\.0\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!m) return undefined;
  const x = Number(m[1]);
  const y = Number(m[2]);
  if (x < X_MIN || x > X_MAX || y < Y_MIN || y > Y_MAX) return undefined;
  return (x - X_MIN) * Y_COUNT + (y - Y_MIN);
}

export class IpAllocator {
  private byKey = new Map<string, string>();
  private byIp = new Map<string, string>();

  /**
   * The address for `key` (a pod uid): the one it already holds, else `preferred` when that is a free pod address
   * (the podIP in the stored status, so a pod keeps its IP across agent restarts), else one derived from the key.
   */
  allocate(key: string, preferred?: string): string {
    const held = this.byKey.get(key);
    if (held) return held;
    if (preferred && indexOfIp(preferred) !== undefined && !this.byIp.has(preferred)) return this.take(key, preferred);
    const start = fnv1a(key) % POD_IP_COUNT;
    for (let n = 0; n < POD_IP_COUNT; n++) {
      const ip = ipForIndex((start + n) % POD_IP_COUNT);
      if (!this.byIp.has(ip)) return this.take(key, ip);
    }
    throw new Error('pod IP range 127.0.1.2-127.0.254.254 exhausted');
  }

  release(key: string): void {
    const ip = this.byKey.get(key);
    if (ip === undefined) return;
    this.byKey.delete(key);
    this.byIp.delete(ip);
  }

  get(key: string): string | undefined {
    return this.byKey.get(key);
  }

  get size(): number {
    return this.byKey.size;
  }

  private take(key: string, ip: string): string {
    this.byKey.set(key, ip);
    this.byIp.set(ip, key);
    return ip;
  }
}
