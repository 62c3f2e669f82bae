// Request bodies: bounded reads and decoding by Content-Type (JSON, YAML, the patch types). Malformed input is a
// 400, never a crash; unknown media types are 415, like kube-apiserver.
import type { IncomingMessage } from 'node:http';
import { parse as parseYaml } from 'yaml';
import { ApiError, OBJECT_MEDIA_TYPES, PATCH_MEDIA_TYPES, badRequest, unsupportedMediaType } from './errors.ts';
import { decodeProtobufObject } from './protobuf.ts';
import type { PatchType } from './store.ts';

/** kube-apiserver's default request size limit (3 MiB). */
export const MAX_BODY_BYTES = 3 * 1024 * 1024;

export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new ApiError(413, 'RequestEntityTooLarge', 'Request entity too large: limit is 3145728');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function mediaType(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? 'application/json').split(';')[0]!.trim().toLowerCase();
}

function decodeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw badRequest(`error decoding from json: ${(err as Error).message}`);
  }
}

function decodeYaml(text: string): unknown {
  try {
    return parseYaml(text, { uniqueKeys: false });
  } catch (err) {
    throw badRequest(`error converting YAML to JSON: ${(err as Error).message}`);
  }
}

/** Decode an object body (POST/PUT). Empty bodies decode to undefined. */
export function decodeObjectBody(req: IncomingMessage, raw: Buffer): unknown {
  const text = raw.toString('utf8');
  if (text.trim() === '') return undefined;
  const type = mediaType(req);
  if (type === 'application/json' || type === '*/*' || type === '') return decodeJson(text);
  if (type === 'application/yaml' || type === 'application/x-yaml' || type === 'text/yaml') return decodeYaml(text);
  if (type === 'application/vnd.kubernetes.protobuf') return decodeProtobufObject(raw);
  throw unsupportedMediaType(OBJECT_MEDIA_TYPES);
}

/** Decode a PATCH body and tell which patch format it is. */
export function decodePatchBody(req: IncomingMessage, raw: Buffer): { type: PatchType; patch: unknown } {
  const type = mediaType(req);
  const text = raw.toString('utf8');
  switch (type) {
    case 'application/merge-patch+json':
      return { type: 'merge', patch: decodeJson(text) };
    case 'application/json-patch+json':
      return { type: 'json', patch: decodeJson(text) };
    case 'application/strategic-merge-patch+json':
      return { type: 'strategic', patch: decodeJson(text) };
    case 'application/apply-patch+yaml':
    case 'application/apply-patch+cbor':
      if (type.endsWith('cbor')) throw unsupportedMediaType(PATCH_MEDIA_TYPES);
      return { type: 'apply', patch: decodeYaml(text) };
    default:
      throw unsupportedMediaType(PATCH_MEDIA_TYPES);
  }
}
