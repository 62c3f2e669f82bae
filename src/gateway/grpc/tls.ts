// Server credentials for gRPC over TLS with the HTTPS listener's certificates: the CertificateStore of the
// ModelServers' `tls.secretName` Secrets (tls/certificates.ts), chosen per connection by SNI, with the oldest such
// ModelServer's certificate for clients without SNI or with a name none covers.
//
// grpc-js has no SNI option of its own, but its ServerCredentials pass their constructor options to
// `http2.createSecureServer` and their context options to `setSecureContext` whenever they change, so a subclass
// gives it Node's `SNICallback` (the store's) and keeps the default certificate current from the store. Secret
// changes apply to new connections without a restart, as on the HTTPS listener. Until a certificate exists, grpc-js
// drops TLS connections (no context to offer).
import { ServerCredentials } from '@grpc/grpc-js';
import type { SecureContextOptions } from 'node:tls';
import type { CertificateStore, TlsCert } from '../tls/certificates.ts';

function contextOptions(cert: TlsCert | null): SecureContextOptions | undefined {
  return cert === null ? undefined : { cert: cert.cert, key: cert.key, minVersion: 'TLSv1.2' };
}

export class SniServerCredentials extends ServerCredentials {
  readonly #unwatch: () => void;

  constructor(store: CertificateStore) {
    super({ SNICallback: store.sniCallback, minVersion: 'TLSv1.2' }, contextOptions(store.default));
    this.#unwatch = store.watchDefault((cert) => {
      // null keeps the last certificate, as the HTTPS listener does: connections without SNI still get one.
      if (cert !== null) this.updateSecureContextOptions(contextOptions(cert)!);
    });
  }

  /** Stop following the store. */
  close(): void {
    this.#unwatch();
  }

  override _equals(other: ServerCredentials): boolean {
    return other === this;
  }
}
