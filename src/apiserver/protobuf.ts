// Decoding of Kubernetes protobuf request bodies for the few built-in kinds kubectl's typed clients send that way
// (`kubectl create namespace|configmap|secret|service` POST `application/vnd.kubernetes.protobuf`). A generic
// wire-format reader plus field tables from k8s.io/api's generated.proto; anything else stays 415.
import { OBJECT_MEDIA_TYPES, badRequest, unsupportedMediaType } from './errors.ts';
import type { JsonObject } from './meta.ts';

type Kind = 'string' | 'bytes' | 'int' | 'bool' | 'msg' | 'mapss' | 'mapsb' | 'time' | 'intstr';
interface Field {
  name: string;
  kind: Kind;
  repeated?: boolean;
  msg?: Message;
}
type Message = Record<number, Field>;

const f = (name: string, kind: Kind, extra: Partial<Field> = {}): Field => ({ name, kind, ...extra });

const OWNER_REFERENCE: Message = {
  1: f('kind', 'string'), 3: f('name', 'string'), 4: f('uid', 'string'), 5: f('apiVersion', 'string'),
  6: f('controller', 'bool'), 7: f('blockOwnerDeletion', 'bool'),
};
const OBJECT_META: Message = {
  1: f('name', 'string'), 2: f('generateName', 'string'), 3: f('namespace', 'string'), 5: f('uid', 'string'),
  6: f('resourceVersion', 'string'), 7: f('generation', 'int'), 8: f('creationTimestamp', 'time'),
  9: f('deletionTimestamp', 'time'), 10: f('deletionGracePeriodSeconds', 'int'), 11: f('labels', 'mapss'),
  12: f('annotations', 'mapss'), 13: f('ownerReferences', 'msg', { repeated: true, msg: OWNER_REFERENCE }),
  14: f('finalizers', 'string', { repeated: true }),
};
const NAMESPACE: Message = { 1: f('metadata', 'msg', { msg: OBJECT_META }), 2: f('spec', 'msg', { msg: { 1: f('finalizers', 'string', { repeated: true }) } }) };
const CONFIGMAP: Message = { 1: f('metadata', 'msg', { msg: OBJECT_META }), 2: f('data', 'mapss'), 3: f('binaryData', 'mapsb'), 4: f('immutable', 'bool') };
const SECRET: Message = {
  1: f('metadata', 'msg', { msg: OBJECT_META }), 2: f('data', 'mapsb'), 3: f('type', 'string'), 4: f('stringData', 'mapss'), 5: f('immutable', 'bool'),
};
const SERVICE_PORT: Message = {
  1: f('name', 'string'), 2: f('protocol', 'string'), 3: f('port', 'int'), 4: f('targetPort', 'intstr'), 5: f('nodePort', 'int'), 6: f('appProtocol', 'string'),
};
const SERVICE_SPEC: Message = {
  1: f('ports', 'msg', { repeated: true, msg: SERVICE_PORT }), 2: f('selector', 'mapss'), 3: f('clusterIP', 'string'), 4: f('type', 'string'),
  5: f('externalIPs', 'string', { repeated: true }), 7: f('sessionAffinity', 'string'), 8: f('loadBalancerIP', 'string'),
  9: f('loadBalancerSourceRanges', 'string', { repeated: true }), 10: f('externalName', 'string'), 11: f('externalTrafficPolicy', 'string'),
  12: f('healthCheckNodePort', 'int'), 13: f('publishNotReadyAddresses', 'bool'), 17: f('ipFamilyPolicy', 'string'),
  18: f('clusterIPs', 'string', { repeated: true }), 19: f('ipFamilies', 'string', { repeated: true }), 20: f('allocateLoadBalancerNodePorts', 'bool'),
  21: f('loadBalancerClass', 'string'), 22: f('internalTrafficPolicy', 'string'), 23: f('trafficDistribution', 'string'),
};
const SERVICE: Message = { 1: f('metadata', 'msg', { msg: OBJECT_META }), 2: f('spec', 'msg', { msg: SERVICE_SPEC }) };

const KINDS: Record<string, Message> = { 'v1/Namespace': NAMESPACE, 'v1/ConfigMap': CONFIGMAP, 'v1/Secret': SECRET, 'v1/Service': SERVICE };

class Reader {
  pos = 0;
  readonly buf: Buffer;
  constructor(buf: Buffer) {
    this.buf = buf;
  }
  done(): boolean {
    return this.pos >= this.buf.length;
  }
  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.buf.length) throw badRequest('protobuf: unexpected end of input');
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return result;
      shift += 7n;
      if (shift > 70n) throw badRequest('protobuf: varint overflow');
    }
  }
  bytes(): Buffer {
    const len = Number(this.varint());
    if (this.pos + len > this.buf.length) throw badRequest('protobuf: truncated field');
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.pos += 4;
    else throw badRequest(`protobuf: unsupported wire type ${wire}`);
  }
}

function decode(buf: Buffer, spec: Message): JsonObject {
  const r = new Reader(buf);
  const out: JsonObject = {};
  while (!r.done()) {
    const tag = Number(r.varint());
    const no = tag >> 3;
    const wire = tag & 7;
    const field = spec[no];
    if (!field) {
      r.skip(wire);
      continue;
    }
    let value: unknown;
    switch (field.kind) {
      case 'string': value = r.bytes().toString('utf8'); break;
      case 'bytes': value = r.bytes().toString('base64'); break;
      case 'int': value = Number(BigInt.asIntN(64, r.varint())); break;
      case 'bool': value = r.varint() !== 0n; break;
      case 'msg': value = decode(r.bytes(), field.msg!); break;
      case 'time': {
        const t = decode(r.bytes(), { 1: f('seconds', 'int'), 2: f('nanos', 'int') });
        if (!t.seconds) continue; // zero time: omitted in JSON
        value = new Date(Number(t.seconds) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
        break;
      }
      case 'intstr': {
        const v = decode(r.bytes(), { 1: f('type', 'int'), 2: f('intVal', 'int'), 3: f('strVal', 'string') });
        value = v.type === 1 ? (v.strVal ?? '') : (v.intVal ?? 0);
        break;
      }
      case 'mapss':
      case 'mapsb': {
        const entry = decode(r.bytes(), { 1: f('key', 'string'), 2: f('value', field.kind === 'mapss' ? 'string' : 'bytes') });
        const map = (out[field.name] ??= {}) as JsonObject;
        map[String(entry.key ?? '')] = entry.value ?? '';
        continue;
      }
    }
    if (field.repeated) ((out[field.name] ??= []) as unknown[]).push(value);
    else if (value !== '' && value !== 0 && value !== false) out[field.name] = value; // Go zero values: omitempty
  }
  return out;
}

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

/** Decode a `runtime.Unknown`-wrapped protobuf object into its JSON form. */
export function decodeProtobufObject(raw: Buffer): JsonObject {
  if (raw.length < 4 || !raw.subarray(0, 4).equals(MAGIC)) throw badRequest('provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]');
  const unknown = decode(raw.subarray(4), {
    1: f('typeMeta', 'msg', { msg: { 1: f('apiVersion', 'string'), 2: f('kind', 'string') } }),
    2: f('raw', 'bytes'),
  });
  const tm = (unknown.typeMeta ?? {}) as JsonObject;
  const key = `${String(tm.apiVersion)}/${String(tm.kind)}`;
  const spec = KINDS[key];
  if (!spec) throw unsupportedMediaType(OBJECT_MEDIA_TYPES.filter((t) => !t.includes('protobuf')));
  const obj = decode(Buffer.from(String(unknown.raw ?? ''), 'base64'), spec);
  return { apiVersion: tm.apiVersion, kind: tm.kind, ...obj };
}
