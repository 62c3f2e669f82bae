// `matrixinfer logs POD`: the container log through the API server's pods/log subresource.
import type { ClientContext } from './context.ts';
import { openStream, rest, toApiError } from '../kube/rest.ts';

export interface LogsOptions {
  container?: string;
  follow?: boolean;
  tail?: number;
}

export async function logs(ctx: ClientContext, pod: string, options: LogsOptions, write: (chunk: string) => void): Promise<void> {
  const name = pod.startsWith('pod/') ? pod.slice(4) : pod;
  const params = new URLSearchParams();
  if (options.container) params.set('container', options.container);
  if (options.follow) params.set('follow', 'true');
  if (options.tail !== undefined) params.set('tailLines', String(options.tail));
  const path = `/api/v1/namespaces/${encodeURIComponent(ctx.namespace)}/pods/${encodeURIComponent(name)}/log?${params}`;
  if (!options.follow) {
    const response = await rest(ctx.kc, { method: 'GET', path, headers: { accept: '*/*' } });
    if (response.status >= 300) throw toApiError(response);
    write(response.body);
    return;
  }
  const stream = await openStream(ctx.kc, { method: 'GET', path, headers: { accept: '*/*' } });
  if ((stream.statusCode ?? 0) >= 300) {
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    throw toApiError({ status: stream.statusCode ?? 0, headers: stream.headers, body: Buffer.concat(chunks).toString() });
  }
  for await (const chunk of stream) write(chunk.toString());
}
