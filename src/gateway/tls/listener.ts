// The gateway's HTTPS listener: the same request handling as the plain listener, with certificates chosen per
// connection by SNI from the CertificateStore (ModelServers' `tls.secretName`). Certificates added, rotated or
// removed in their Secrets take effect for new connections without a restart.
import { createServer, type Server } from 'node:https';
import type { GatewayCore } from '../http/exchange.ts';
import { handleRequest } from '../http/server.ts';
import type { CertificateStore, TlsCert } from './certificates.ts';

export function createTlsServer(core: GatewayCore, store: CertificateStore): Server {
  const server = createServer(
    {
      SNICallback: store.sniCallback,
      requestTimeout: 0,
      headersTimeout: 60_000,
      keepAliveTimeout: 65_000,
      minVersion: 'TLSv1.2',
    },
    (req, res) => handleRequest(core, req, res),
  );
  const setDefault = (cert: TlsCert | null): void => {
    // Connections without SNI (or with a name no certificate covers) get the default certificate.
    if (cert !== null) server.setSecureContext({ cert: cert.cert, key: cert.key, minVersion: 'TLSv1.2' });
  };
  setDefault(store.default);
  store.onDefaultChange = setDefault;
  server.on('clientError', (_err, socket) => socket.destroy());
  server.on('tlsClientError', () => {});
  return server;
}
