// `matrixinfer apply --wait`: follows the applied Models until each is Ready or Failed, showing the download of
// their artifacts. On a terminal, one progress bar per Model redrawn in place; otherwise a line whenever the
// state or the whole percentage changes, so logs stay short. Polls every second (a Model's status changes at most
// that often while downloading) rather than watching, which keeps it to one request per Model per second.
import type { DownloadStatus, Model } from '../api/kinds/index.ts';
import { downloadPercent } from '../controllers/model/download-status.ts';
import { restJson } from '../kube/rest.ts';
import type { ClientContext } from './context.ts';

export interface WaitTarget {
  namespace: string;
  name: string;
}

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;

function size(bytes: number): string {
  return bytes >= GIB ? `${(bytes / GIB).toFixed(1)} GiB` : `${(bytes / MIB).toFixed(0)} MiB`;
}

/** One line for a Model: its phase, and the download as a bar when its size is known. */
export function progressLine(name: string, model: Model | undefined, width = 24): string {
  const status = model?.status;
  const d: DownloadStatus | undefined = status?.download;
  const percent = downloadPercent(d);
  const phase = status?.phase ?? 'Pending';
  if (phase === 'Failed') {
    const ready = status?.conditions?.find((c) => c.type === 'Ready');
    return `model/${name} Failed: ${ready?.reason ?? ''}${ready?.message ? ` (${ready.message})` : ''}`;
  }
  if (!d || d.phase === 'Complete' || percent === undefined) {
    const tail = d?.phase === 'Failed' ? `, artifacts not fetched: ${d.reason}` : d?.phase === 'Complete' ? ', artifacts ready' : d ? `, download ${d.phase.toLowerCase()}` : '';
    return `model/${name} ${phase}${tail}`;
  }
  const filled = Math.round((percent / 100) * width);
  const files = d.filesTotal !== undefined ? ` ${d.filesDone ?? 0}/${d.filesTotal} files` : '';
  return `model/${name} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(percent).padStart(3)}% ${size(d.bytesDone ?? 0)}/${size(d.bytesTotal!)}${files}`;
}

function settled(model: Model | undefined): boolean {
  return model?.status?.phase === 'Ready' || model?.status?.phase === 'Failed';
}

/** Resolves when every Model is Ready (true) or one is Failed (false); rejects on timeout. */
export async function waitForModels(ctx: ClientContext, targets: readonly WaitTarget[], options: { timeoutMs: number; tty: boolean; write: (text: string) => void }): Promise<boolean> {
  const deadline = Date.now() + options.timeoutMs;
  const last = new Map<string, string>();
  let drawn = 0;
  for (;;) {
    const models = await Promise.all(
      targets.map((t) =>
        restJson<Model>(ctx.kc, { method: 'GET', path: `/apis/registry.matrixinfer.ai/v1alpha1/namespaces/${t.namespace}/models/${t.name}` }).catch(() => undefined),
      ),
    );
    const lines = targets.map((t, i) => progressLine(t.name, models[i]));
    if (options.tty) {
      options.write(`${drawn > 0 ? `\x1b[${drawn}A` : ''}${lines.map((l) => `\x1b[2K${l}\n`).join('')}`);
      drawn = lines.length;
    } else {
      targets.forEach((t, i) => {
        if (last.get(t.name) !== lines[i]) options.write(`${lines[i]}\n`);
        last.set(t.name, lines[i]!);
      });
    }
    if (models.some((m) => m?.status?.phase === 'Failed')) return false;
    if (models.every(settled)) return true;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${targets.filter((_, i) => !settled(models[i])).map((t) => `model/${t.name}`).join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}
