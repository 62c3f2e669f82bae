// Picks the store module for a fetched source and loads it (with its client library) only then.
import type { Source } from '../../source.ts';
import type { StoreClient, StoreOptions } from './types.ts';

export type FetchedSource = Exclude<Source, { store: 'pvc' } | { store: 'local' }>;

export async function openStore(source: FetchedSource, options: StoreOptions): Promise<StoreClient> {
  switch (source.store) {
    case 's3':
      return (await import('./s3.ts')).s3Store(source, options);
    case 'gcs':
      return (await import('./gcs.ts')).gcsStore(source, options);
    case 'azure':
      return (await import('./azure.ts')).azureStore(source, options);
    case 'huggingface':
      return (await import('./huggingface.ts')).huggingfaceStore(source, options);
    case 'https':
      return (await import('./https.ts')).httpsStore(source, options);
  }
}
