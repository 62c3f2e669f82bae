// pods/log: container logs written by the node agent to `<podLogDir>/<namespace>_<pod>_<container>.log`
// (`.previous.log` for the last terminated instance), with container, tailLines, limitBytes and follow.
import { existsSync, statSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { badRequest } from './errors.ts';
import { isObject } from './meta.ts';
import type { ResourceType } from './registry.ts';
import type { ObjectStore } from './store.ts';

export interface LogContext {
  store: ObjectStore;
  podLogDir: string;
  streams: Set<ServerResponse>;
}

function tail(text: string, lines: number): string {
  if (lines <= 0) return '';
  const parts = text.split('\n');
  const trailing = parts[parts.length - 1] === '' ? parts.pop() !== undefined : false;
  const out = parts.slice(-lines).join('\n');
  return trailing && out ? out + '\n' : out;
}

export async function servePodLog(ctx: LogContext, req: IncomingMessage, res: ServerResponse, rt: ResourceType, namespace: string, name: string, q: URLSearchParams): Promise<void> {
  const pod = ctx.store.get(rt, namespace, name);
  const spec = isObject(pod.spec) ? pod.spec : {};
  const names = [...(Array.isArray(spec.containers) ? spec.containers : []), ...(Array.isArray(spec.initContainers) ? spec.initContainers : [])]
    .map((c) => (isObject(c) ? String(c.name) : ''));
  let container = q.get('container') ?? '';
  if (!container) {
    const main = Array.isArray(spec.containers) ? spec.containers : [];
    if (main.length !== 1) throw badRequest(`a container name must be specified for pod ${name}, choose one of: [${names.join(' ')}]`);
    container = String((main[0] as Record<string, unknown>).name);
  } else if (!names.includes(container)) {
    throw badRequest(`container ${container} is not valid for pod ${name}`);
  }
  const previous = q.get('previous') === 'true';
  const file = join(ctx.podLogDir, `${namespace}_${name}_${container}${previous ? '.previous' : ''}.log`);
  const follow = q.get('follow') === 'true' && !previous;
  const tailLines = q.get('tailLines');
  const limitBytes = q.get('limitBytes') ? Number(q.get('limitBytes')) : undefined;
  if (!existsSync(file) && !follow) {
    if (previous) throw badRequest(`previous terminated container "${container}" in pod "${name}" not found`);
    throw badRequest(`container "${container}" in pod "${name}" is waiting to start: ContainerCreating`);
  }
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Cache-Control': 'no-cache, private' });
  let sent = 0;
  const write = (chunk: string | Buffer): boolean => {
    if (limitBytes !== undefined) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      const room = limitBytes - sent;
      if (room <= 0) return false;
      const part = buf.subarray(0, room);
      sent += part.length;
      res.write(part);
      return sent < limitBytes;
    }
    res.write(chunk);
    return true;
  };
  let offset = 0;
  if (existsSync(file)) {
    const content = await readFile(file);
    offset = content.length;
    const text = tailLines !== null ? tail(content.toString('utf8'), Number(tailLines)) : content;
    if (!write(text) || !follow) {
      res.end();
      return;
    }
  }
  // follow: poll the file for growth until the pod is gone, the client leaves or the server closes.
  ctx.streams.add(res);
  await new Promise<void>((resolve) => {
    let busy = false;
    const finish = () => {
      clearInterval(timer);
      ctx.streams.delete(res);
      if (!res.writableEnded) res.end();
      resolve();
    };
    const timer = setInterval(async () => {
      if (busy) return;
      busy = true;
      try {
        if (!ctx.store.getStored(rt, namespace, name)) return finish();
        if (!existsSync(file)) return;
        const size = statSync(file).size;
        if (size < offset) offset = 0; // truncated or rotated
        if (size > offset) {
          const fh = await open(file, 'r');
          try {
            const buf = Buffer.alloc(size - offset);
            await fh.read(buf, 0, buf.length, offset);
            offset = size;
            if (!write(buf)) finish();
          } finally {
            await fh.close();
          }
        }
      } catch {
        finish();
      } finally {
        busy = false;
      }
    }, 200);
    req.on('close', finish);
    res.on('close', finish);
  });
}

