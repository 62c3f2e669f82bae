// The gateway's HTTPS listener: the same request handling as the plain listener, with certificates chosen per
// connection by SNI from the CertificateStore (ModelServers' `tls.secretName`). Certificates added, rotated or
// removed in their Secrets take effect for new connections without a restart.
import type { GatewayCore } from '../http/exchange.ts';
import { handleRequest } from '../http/server.ts';
import { Https1Server } from '../http1/server.ts';
import type { CertificateStore, TlsCert } from './certificates.ts';

export function createTlsServer(core: GatewayCore, store: CertificateStore): Https1Server {
  const server = new Https1Server({ SNICallback: store.sniCallback, minVersion: 'TLSv1.2' }, (stream) => handleRequest(core, stream, true));
  const setDefault = (cert: TlsCert | null): void => {
    // Connections without SNI (or with a name no certificate covers) get the default certificate.
    if (cert !== null) server.setSecureContext({ cert: cert.cert, key: cert.key, minVersion: 'TLSv1.2' });
  };
  setDefault(store.default);
  store.watchDefault(setDefault);
  server.on('tlsClientError', () => {});
  return server;
}
