// The gateway's gRPC front: the Open Inference Protocol's `inference.GRPCInferenceService` (with Triton's
// ModelStreamInfer), the standard `grpc.health.v1.Health` service and server reflection, on one port that takes both
// cleartext HTTP/2 (h2c) and TLS (ALPN h2) connections.
//
// Rules:
//  - gRPC is one more front onto the same pipeline: every OIP call is served as the REST request it stands for
//    (ModelInfer → `POST /v2/models/{name}/infer`, ModelReady → `GET /v2/models/{name}/ready`, …) on a
//    GrpcClientStream (stream.ts) handed to `handle`, the HTTP front's entry point. Routing, authentication
//    (metadata `authorization`), limits, scheduling, retries, accounting, metrics and the access log are therefore
//    the REST API's, and the REST answer is translated back (messages.ts, status codes by status.ts).
//  - The port: the first byte of a connection says which it is (0x16, a TLS handshake record, or else the HTTP/2
//    preface); each kind goes to its own grpc-js Server through a connection injector, so handlers know whether the
//    call came over TLS (ModelServers with `tls.enabled` answer nothing else). TLS uses the HTTPS listener's
//    certificates, by SNI (tls.ts); without a certificate store TLS connections are closed.
//  - ModelStreamInfer: each request on the stream is an infer of its own (an `x-request-id` of the call becomes
//    `<id>-<n>` for its n-th request, so each is told apart in the access log); its responses are written as they
//    come (one per generated chunk when it streams, the last with `triton_final_response`), in-band errors carry
//    `error_message` and the stream goes on, except 401/403, which end the call with UNAUTHENTICATED /
//    PERMISSION_DENIED (the credentials are the call's). The call ends when the client has half-closed and every
//    request is answered.
//  - A request message that does not decode is INVALID_ARGUMENT with the decoder's message (the client sent bad
//    input; grpc-js alone would answer INTERNAL), in-band on a stream.
//  - Health: service "" and `inference.GRPCInferenceService` are NOT_SERVING until setServing(true) (the gateway
//    calls it once its routing table is synced), as `/ready` is 503 until then.
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import {
  Metadata,
  Server,
  ServerCredentials,
  status as Status,
  type sendUnaryData,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type ServiceDefinition,
  type StatusObject,
  type UntypedServiceImplementation,
  type ConnectionInjector,
} from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { ReflectionService } from '@grpc/reflection';
import type { ClientStream } from '../http1/server.ts';
import type { CertificateStore } from '../tls/certificates.ts';
import { oipModelPath } from '../protocols/oip.ts';
import { INFERENCE_SERVICE, inferenceService, packageDefinition, type ModelInferRequest, type ModelRequest, type ModelStreamInferResponse } from './proto.ts';
import { inferRequest, inferResponse, modelMetadataResponse, serverMetadataResponse, type RestRequest } from './messages.ts';
import { Collector, GrpcClientStream, SseLines, requestHeaders, type Responder } from './stream.ts';
import { bodyMessage, callError, httpError } from './status.ts';
import { SniServerCredentials } from './tls.ts';

/** Serves one REST request: `handleRequest(core, stream, secure)` of http/server.ts. */
export type RequestHandler = (stream: ClientStream, secure: boolean) => void;

export interface GrpcFrontOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 picks a free port. */
  port: number;
  handle: RequestHandler;
  /** The HTTPS listener's certificates; TLS connections are closed without them. */
  certificates?: CertificateStore | null;
  /** Largest request message (default 10 MiB, the gateway's body limit). */
  maxMessageBytes?: number;
}

export interface GrpcFront {
  /** host:port, as gRPC clients take it. */
  address: string;
  port: number;
  /** The health service's answer for "" and the inference service. */
  setServing(serving: boolean): void;
  close(): Promise<void>;
}

/** The first byte of a TLS connection: a handshake record. */
const TLS_HANDSHAKE = 0x16;

// ---- request messages that do not decode ------------------------------------------------------------------

/** What a request message that failed to decode becomes, so the handler can answer INVALID_ARGUMENT. */
class Malformed {
  readonly message: string;
  constructor(message: string) {
    this.message = message;
  }

  get details(): string {
    return `The request message is not a valid protobuf of its type: ${this.message}.`;
  }
}

function tolerant(service: ServiceDefinition): ServiceDefinition {
  const out: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(service)) {
    const decode = method.requestDeserialize;
    out[name] = {
      ...method,
      requestDeserialize: (buf: Buffer): unknown => {
        try {
          return decode(buf);
        } catch (err) {
          return new Malformed((err as Error).message);
        }
      },
    };
  }
  return out as ServiceDefinition;
}

// ---- unary calls ------------------------------------------------------------------------------------------

interface Translation<T> {
  /** The response for a 2xx JSON body; null when the body is not the expected one. */
  success(json: unknown): T | null;
  /** Statuses that are an answer rather than an error (readiness: 503 is "not ready"). */
  other?(status: number): T | undefined;
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

function serveUnary<T>(handle: RequestHandler, secure: boolean, call: ServerUnaryCall<unknown, T>, callback: sendUnaryData<T>, rest: RestRequest, t: Translation<T>): void {
  const headers = requestHeaders(call.metadata, call.getHost(), rest.headers, rest.body === null ? null : rest.body.length);
  const done = (stream: GrpcClientStream, body: Buffer | null): void => {
    if (call.cancelled) return;
    if (body === null) {
      callback(callError(Status.UNAVAILABLE, 'The response was cut off before it was complete.', stream.responseHeaders));
      return;
    }
    const status = stream.status;
    const requestId = stream.responseHeaders['x-request-id'];
    if (requestId !== undefined) {
      const md = new Metadata();
      md.set('x-request-id', requestId);
      call.sendMetadata(md);
    }
    if (status >= 200 && status < 300) {
      const value = t.success(parseJson(body));
      if (value !== null) callback(null, value);
      else callback(callError(Status.INTERNAL, 'The gateway could not translate its answer to this call.', stream.responseHeaders));
      return;
    }
    const value = t.other?.(status);
    if (value !== undefined) callback(null, value);
    else callback(httpError(status, stream.responseHeaders, body));
  };
  const stream = new GrpcClientStream(rest.method, rest.path, headers, rest.body, new Collector(done));
  call.on('cancelled', () => stream.cancel());
  stream.start((s) => handle(s, secure));
}

function get(path: string): RestRequest {
  return { method: 'GET', path, headers: {}, body: null };
}

/** The model of a ModelReady/ModelMetadata request, or the INVALID_ARGUMENT to answer. */
function modelOf(req: ModelRequest | Malformed): ModelRequest | Partial<StatusObject> {
  if (req instanceof Malformed) return { code: Status.INVALID_ARGUMENT, details: req.details };
  if (req.name === '') return { code: Status.INVALID_ARGUMENT, details: 'name is required.' };
  return req;
}

// ---- ModelStreamInfer -------------------------------------------------------------------------------------

type InferStream = ServerDuplexStream<ModelInferRequest | Malformed, ModelStreamInferResponse>;

/** One ModelStreamInfer call: its requests in flight, each a GrpcClientStream. */
class StreamCall {
  readonly call: InferStream;
  readonly active = new Set<GrpcClientStream>();
  /** The client half-closed: the call ends once every request is answered. */
  ended = false;
  /** The call is over (ended, failed or cancelled): nothing more is written. */
  closed = false;

  constructor(call: InferStream) {
    this.call = call;
  }

  write(message: ModelStreamInferResponse): boolean {
    if (this.closed) return true;
    return this.call.write(message);
  }

  error(message: string): void {
    this.write({ error_message: message, infer_response: null });
  }

  done(stream: GrpcClientStream): void {
    this.active.delete(stream);
    this.maybeEnd();
  }

  maybeEnd(): void {
    if (this.ended && this.active.size === 0 && !this.closed) {
      this.closed = true;
      this.call.end();
    }
  }

  /** End the call with an error status; requests still in flight are cancelled. */
  fail(status: Partial<StatusObject>): void {
    if (this.closed) return;
    this.closed = true;
    this.call.emit('error', status);
    this.cancelAll();
  }

  cancelAll(): void {
    const streams = [...this.active];
    this.active.clear();
    for (const s of streams) s.cancel();
  }
}

/** One request of a ModelStreamInfer call: SSE events (or one JSON answer) → stream responses. */
class StreamResponder implements Responder {
  readonly #owner: StreamCall;
  readonly #raw: boolean;
  #sse: SseLines | null = null;
  readonly #chunks: Buffer[] = [];

  constructor(owner: StreamCall, raw: boolean) {
    this.#owner = owner;
    this.#raw = raw;
  }

  data(stream: GrpcClientStream, chunk: Buffer): boolean {
    if (this.#sse === null && stream.status >= 200 && stream.status < 300 && (stream.responseHeaders['content-type'] ?? '').startsWith('text/event-stream')) {
      this.#sse = new SseLines();
    }
    if (this.#sse === null) {
      this.#chunks.push(chunk);
      return true;
    }
    let writable = true;
    for (const payload of this.#sse.push(chunk)) if (!this.#event(payload)) writable = false;
    return writable;
  }

  #event(payload: string): boolean {
    const json = parseJson(Buffer.from(payload));
    if (json === undefined) return true;
    const message = errorOf(json);
    if (message !== null) return this.#owner.write({ error_message: message, infer_response: null });
    const res = inferResponse(json, this.#raw);
    if (res === null) return true;
    return this.#owner.write({ error_message: '', infer_response: res });
  }

  end(stream: GrpcClientStream): void {
    const owner = this.#owner;
    if (this.#sse === null) {
      const body = Buffer.concat(this.#chunks);
      const status = stream.status;
      if (status >= 200 && status < 300) {
        // One answer for a request that did not stream: it is also the last.
        const res = inferResponse(parseJson(body), this.#raw, { triton_final_response: true });
        if (res !== null) owner.write({ error_message: '', infer_response: res });
        else owner.error('The gateway could not translate its answer to this request.');
      } else if (status === 401 || status === 403) {
        owner.done(stream);
        owner.fail(httpError(status, stream.responseHeaders, body));
        return;
      } else {
        owner.error(bodyMessage(status, body));
      }
    }
    owner.done(stream);
  }

  abandon(stream: GrpcClientStream): void {
    this.#owner.error('The response was cut off before it was complete.');
    this.#owner.done(stream);
  }
}

function errorOf(json: unknown): string | null {
  if (json === null || typeof json !== 'object' || !('error' in json)) return null;
  const e = (json as { error: unknown }).error;
  if (typeof e === 'string') return e;
  if (e !== null && typeof e === 'object' && typeof (e as { message?: unknown }).message === 'string') return (e as { message: string }).message;
  return 'The request failed.';
}

function serveStream(handle: RequestHandler, secure: boolean, call: InferStream): void {
  const owner = new StreamCall(call);
  const callRequestId = call.metadata.get('x-request-id')[0];
  let requests = 0;
  call.on('data', (req: ModelInferRequest | Malformed) => {
    if (owner.closed) return;
    if (req instanceof Malformed) {
      owner.error(req.details);
      return;
    }
    const rest = inferRequest(req, false);
    if (typeof rest === 'string') {
      owner.error(rest);
      return;
    }
    const headers = requestHeaders(call.metadata, call.getHost(), rest.headers, rest.body!.length);
    requests++;
    if (typeof callRequestId === 'string') headers['x-request-id'] = `${callRequestId}-${requests}`;
    const stream = new GrpcClientStream(rest.method, rest.path, headers, rest.body, new StreamResponder(owner, req.raw_input_contents.length > 0));
    owner.active.add(stream);
    stream.start((s) => handle(s, secure));
  });
  call.on('end', () => {
    owner.ended = true;
    owner.maybeEnd();
  });
  call.on('drain', () => {
    for (const s of owner.active) s.writable();
  });
  call.on('cancelled', () => {
    owner.closed = true;
    owner.cancelAll();
  });
  call.on('error', () => {
    // A failed write or a reset stream: grpc-js reports the call's end; the requests in flight go with it.
    owner.closed = true;
    owner.cancelAll();
  });
}

// ---- the service ------------------------------------------------------------------------------------------

function inferenceImplementation(handle: RequestHandler, secure: boolean): UntypedServiceImplementation {
  type Call = ServerUnaryCall<any, any>;
  type Callback = sendUnaryData<any>;
  return {
    ServerLive(call: Call, callback: Callback) {
      serveUnary(handle, secure, call, callback, get('/v2/health/live'), { success: () => ({ live: true }), other: () => ({ live: false }) });
    },
    ServerReady(call: Call, callback: Callback) {
      serveUnary(handle, secure, call, callback, get('/v2/health/ready'), {
        success: () => ({ ready: true }),
        other: (s) => (s === 503 ? { ready: false } : undefined),
      });
    },
    ServerMetadata(call: Call, callback: Callback) {
      serveUnary(handle, secure, call, callback, get('/v2'), { success: serverMetadataResponse });
    },
    ModelReady(call: Call, callback: Callback) {
      const req = modelOf(call.request);
      if (!('name' in req)) return callback(req);
      serveUnary(handle, secure, call, callback, get(oipModelPath(req.name, req.version, 'ready')), {
        success: () => ({ ready: true }),
        // 400: the model exists and is not ready; 503: the gateway is not ready.
        other: (s) => (s === 400 || s === 503 ? { ready: false } : undefined),
      });
    },
    ModelMetadata(call: Call, callback: Callback) {
      const req = modelOf(call.request);
      if (!('name' in req)) return callback(req);
      serveUnary(handle, secure, call, callback, get(oipModelPath(req.name, req.version, 'metadata')), { success: modelMetadataResponse });
    },
    ModelInfer(call: Call, callback: Callback) {
      const req = call.request as ModelInferRequest | Malformed;
      if (req instanceof Malformed) return callback({ code: Status.INVALID_ARGUMENT, details: req.details });
      const rest = inferRequest(req, true);
      if (typeof rest === 'string') return callback({ code: Status.INVALID_ARGUMENT, details: rest });
      const raw = req.raw_input_contents.length > 0;
      serveUnary(handle, secure, call, callback, rest, { success: (json) => inferResponse(json, raw) });
    },
    ModelStreamInfer(call: InferStream) {
      serveStream(handle, secure, call);
    },
  };
}

// ---- servers and the port ---------------------------------------------------------------------------------

export async function startGrpcFront(options: GrpcFrontOptions): Promise<GrpcFront> {
  const health = new HealthImplementation({ '': 'NOT_SERVING', [INFERENCE_SERVICE]: 'NOT_SERVING' });
  const reflection = new ReflectionService(packageDefinition);
  const service = tolerant(inferenceService);
  const serverOptions = { 'grpc.max_receive_message_length': options.maxMessageBytes ?? 10 * 1024 * 1024 };
  const makeServer = (secure: boolean): Server => {
    const server = new Server(serverOptions);
    server.addService(service, inferenceImplementation(options.handle, secure));
    health.addToServer(server);
    reflection.addToServer(server);
    return server;
  };
  const plain = makeServer(false);
  const tls = makeServer(true);
  const plainInjector = plain.createConnectionInjector(ServerCredentials.createInsecure());
  const credentials = options.certificates ? new SniServerCredentials(options.certificates) : null;
  const tlsInjector: ConnectionInjector | null = credentials === null ? null : tls.createConnectionInjector(credentials);

  const sniffing = new Set<Socket>();
  const listener: NetServer = createNetServer((socket) => {
    sniffing.add(socket);
    socket.on('error', () => socket.destroy());
    socket.once('data', (first: Buffer) => {
      sniffing.delete(socket);
      socket.pause();
      socket.unshift(first);
      if (first[0] !== TLS_HANDSHAKE) plainInjector.injectConnection(socket);
      else if (tlsInjector !== null) tlsInjector.injectConnection(socket);
      else socket.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    listener.listen(options.port, options.host ?? '127.0.0.1', () => {
      listener.off('error', reject);
      resolve();
    });
  });
  const a = listener.address() as { address: string; family: string; port: number };
  const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  let closed = false;
  return {
    address: `${host}:${a.port}`,
    port: a.port,
    setServing(serving: boolean): void {
      const s = serving ? 'SERVING' : 'NOT_SERVING';
      health.setStatus('', s);
      health.setStatus(INFERENCE_SERVICE, s);
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      const listenerClosed = new Promise<void>((resolve) => listener.close(() => resolve()));
      for (const s of sniffing) s.destroy();
      plainInjector.destroy();
      tlsInjector?.destroy();
      credentials?.close();
      plain.forceShutdown();
      tls.forceShutdown();
      await listenerClosed;
    },
  };
}
