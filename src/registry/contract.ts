// What the Model controller, the admission webhooks, the node agent and the downloader agree on about fetching a
// Model's artifacts: the init container's name and image, the node cache volume and where it is mounted, where a
// PVC source is mounted, the engine's model path, and the Pod annotation progress is reported in.
//
// The node cache is a hostPath volume at the same path on the node and in the containers, so a path printed by the
// downloader is the path the engine opens. Locally the node agent maps that path to $MATRIXINFER_HOME/models.
import { basename } from 'node:path';
import { cacheEntryName, type Source } from './source.ts';

/** Init container that fetches and scans the artifacts before the engine starts (`matrixinfer download`). */
export const DOWNLOAD_CONTAINER = 'model-download';
/** Image of the download step (the Dockerfile's `downloader` target); the controller manager's --downloader-image. */
export const DEFAULT_DOWNLOADER_IMAGE = 'matrixinfer/downloader:0.1.0';
/** The node cache volume: a hostPath shared by the pods of a node. */
export const CACHE_VOLUME = 'model-cache';
export const NODE_CACHE_PATH = '/var/lib/matrixinfer/models';
/** A pvc:// source's claim is mounted read-only here (`<root>/<claim>`). */
export const PVC_MOUNT_ROOT = '/mnt/models';
export const PVC_VOLUME = 'model-pvc';
/**
 * Download failures that are a verdict of the scan on the artifacts, not on the store: retrying cannot help, and no
 * engine may serve them, not even the simulated one.
 */
export const SCAN_FAILURES: ReadonlySet<string> = new Set(['UnsafeArtifact', 'InvalidArtifact', 'PolicyViolation']);
/** Hugging Face libraries' home in the engine: this directory under the node cache mount. */
export const HF_HOME_DIR = 'huggingface';
/** JSON DownloadStatus written by the download step on its own Pod (at most once a second, and at the end). */
export const DOWNLOAD_ANNOTATION = 'registry.matrixinfer.ai/download';

/** Where the engine finds the artifacts of `source` inside its container. */
export function engineModelPath(source: Source): string {
  switch (source.store) {
    case 'pvc':
      return [PVC_MOUNT_ROOT, source.claim, source.path].filter(Boolean).join('/');
    case 'local':
      return source.path;
    case 'https':
      return `${NODE_CACHE_PATH}/${cacheEntryName(source)}/${basename(new URL(source.url).pathname)}`;
    default:
      return `${NODE_CACHE_PATH}/${cacheEntryName(source)}`;
  }
}
