// Writing the download step's identity (download-identity.ts) into a namespace: the only part that needs the
// Kubernetes client, kept apart so that the pure part stays light to import.
import type { KubeObject } from '../../api/admission.ts';
import { isConflict, ROLE_BINDINGS, SERVICE_ACCOUNTS, type KubeClient } from '../../kube/client.ts';
import { DOWNLOAD_IDENTITY, desiredRoleBinding, desiredServiceAccount, identityAction, type RoleRef } from './download-identity.ts';

/** Makes the namespace's ServiceAccount and RoleBinding match; `live` from the informers (undefined: not there). */
export async function ensureDownloadIdentity(
  client: KubeClient,
  namespace: string,
  role: RoleRef,
  live: { serviceAccount: KubeObject | undefined; roleBinding: KubeObject | undefined },
): Promise<void> {
  const steps = [
    { rt: SERVICE_ACCOUNTS, desired: desiredServiceAccount(namespace), live: live.serviceAccount },
    { rt: ROLE_BINDINGS, desired: desiredRoleBinding(namespace, role), live: live.roleBinding },
  ];
  for (const step of steps) {
    const action = identityAction(step.desired, step.live);
    if (action === 'replace') await client.delete(step.rt, namespace, DOWNLOAD_IDENTITY);
    if (action !== 'none') {
      await client.create(step.rt, step.desired).catch((err: unknown) => {
        if (!isConflict(err)) throw err; // created meanwhile by another reconcile
      });
    }
  }
}

