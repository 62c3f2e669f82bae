// The ModelInfer webhook's rules for every role's pod template (the Pods are made from it, so they carry the
// result): scheduling constraints for GPU pods, a restricted security context, configuration injection (HF_HOME on
// the model cache, the policy's safetensors-only on the download step), and what validation refuses (privileged
// containers without the opt-in, fractional GPUs).
//
// Rules:
//  - never overwrite what the user (or the Model controller) set: a default fills an absent field only;
//  - idempotent: a second pass changes nothing (the webhook's patch is then empty);
//  - pure functions of the template and the policy.
//
// Security context: pods get seccomp RuntimeDefault and runAsNonRoot; containers no privilege escalation and every
// capability dropped, as the restricted Pod Security Standard asks. runAsNonRoot is not defaulted when a container's
// image is known to run as root: vllm/vllm-openai and lmsysorg/sglang have no USER, and giving them an arbitrary UID
// breaks them (torch calls getpass.getuser(), which fails for a UID missing from /etc/passwd; kserve#5666), so
// KServe sets runAsNonRoot only on images it builds non-root. The policy's `rootImages` extends the list.
import type { FieldError } from '../api/admission.ts';
import { imageRepository } from '../agent/runtime-map.ts';
import { CACHE_VOLUME, DOWNLOAD_CONTAINER, HF_HOME_DIR, NODE_CACHE_PATH } from '../registry/contract.ts';
import type { ModelInfer } from '../api/kinds/index.ts';
import type { PolicyProvider, RegistryPolicy } from './policy.ts';
import { checkWholeGpus } from './registry-policy.ts';

/** On a pod template: `"true"` lets its containers be privileged (see docs/architecture.md, Admission). */
export const ALLOW_PRIVILEGED_ANNOTATION = 'workload.matrixinfer.ai/allow-privileged';
/** The label the NVIDIA GPU operator (GPU feature discovery) puts on nodes with GPUs. */
export const DEFAULT_GPU_NODE_SELECTOR: Readonly<Record<string, string>> = { 'nvidia.com/gpu.present': 'true' };
export const NVIDIA_GPU = 'nvidia.com/gpu';
export const SAFETENSORS_ONLY_FLAG = '--safetensors-only';

/** Image repositories (registry host and tag dropped) that run as root and fail under an arbitrary UID. */
export const ROOT_IMAGES: readonly string[] = ['vllm/vllm-openai', 'lmsysorg/sglang', 'huggingface/text-generation-inference', 'nvidia/tritonserver'];

type Obj = Record<string, unknown>;
interface Container extends Obj {
  name?: string;
  image?: string;
  args?: string[];
  env?: { name: string; value?: string }[];
  resources?: unknown;
  securityContext?: Obj & { privileged?: boolean; allowPrivilegeEscalation?: boolean; runAsNonRoot?: boolean; runAsUser?: number; capabilities?: { add?: string[]; drop?: string[] } };
  volumeMounts?: { name: string; mountPath: string }[];
}
interface PodSpec extends Obj {
  containers?: Container[];
  initContainers?: Container[];
  volumes?: { name: string; hostPath?: { path?: string } }[];
  securityContext?: Obj & { runAsNonRoot?: boolean; runAsUser?: number; seccompProfile?: Obj };
  tolerations?: { key?: string; operator?: string; effect?: string }[];
  nodeSelector?: Record<string, string>;
  affinity?: { nodeAffinity?: { requiredDuringSchedulingIgnoredDuringExecution?: unknown } };
}
export interface PodTemplate {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Obj;
}

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const containersOf = (spec: PodSpec, list: 'containers' | 'initContainers'): Container[] => (Array.isArray(spec[list]) ? (spec[list] as unknown[]).filter(isObj) as Container[] : []);
const allContainers = (spec: PodSpec): Container[] => [...containersOf(spec, 'initContainers'), ...containersOf(spec, 'containers')];

const isGpuName = (name: string): boolean => /(^|\/)gpu$/.test(name);

/** GPU resource names some container of the pod asks for (a positive limit or request). */
export function gpuResources(spec: PodSpec): string[] {
  const names = new Set<string>();
  for (const c of allContainers(spec)) {
    const res = isObj(c.resources) ? c.resources : {};
    for (const list of ['limits', 'requests']) {
      for (const [name, value] of Object.entries(isObj(res[list]) ? res[list] : {})) {
        if (isGpuName(name) && Number.parseFloat(String(value)) > 0) names.add(name);
      }
    }
  }
  return [...names].sort();
}

/** A toleration for GPU nodes' taint, and a node selector unless the template already says where it goes. */
function defaultScheduling(spec: PodSpec, policy: RegistryPolicy | undefined): void {
  const gpus = gpuResources(spec);
  if (gpus.length === 0) return;
  const tolerations = Array.isArray(spec.tolerations) ? spec.tolerations : [];
  for (const name of gpus) {
    const tolerated = tolerations.some((t) => isObj(t) && (t.key === name || (!t.key && t.operator === 'Exists')));
    if (!tolerated) tolerations.push({ key: name, operator: 'Exists', effect: 'NoSchedule' });
  }
  spec.tolerations = tolerations;
  const placed = (isObj(spec.nodeSelector) && Object.keys(spec.nodeSelector).length > 0) || spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution !== undefined;
  if (placed) return;
  const selector = policy?.gpuNodeSelector ?? (gpus.includes(NVIDIA_GPU) ? DEFAULT_GPU_NODE_SELECTOR : {});
  if (Object.keys(selector).length > 0) spec.nodeSelector = { ...selector };
}

/** Whether the image is known to run as root (and to break under an arbitrary UID). */
export function runsAsRoot(image: string | undefined, policy: RegistryPolicy | undefined): boolean {
  if (!image) return false;
  const repo = imageRepository(image);
  return [...ROOT_IMAGES, ...(policy?.rootImages ?? [])].some((known) => repo === known || repo.endsWith(`/${known}`));
}

function defaultSecurity(spec: PodSpec, policy: RegistryPolicy | undefined): void {
  const pod = (spec.securityContext = isObj(spec.securityContext) ? spec.securityContext : {});
  pod.seccompProfile ??= { type: 'RuntimeDefault' };
  const containers = allContainers(spec);
  // A container's own runAsNonRoot overrides the pod's; one without it inherits the pod's and would not start under
  // runAsNonRoot if it runs as root (runAsUser 0, or a root image with no runAsUser).
  const breaks = (c: Container): boolean => {
    const own = isObj(c.securityContext) ? c.securityContext : {};
    if (own.runAsNonRoot !== undefined) return false;
    return own.runAsUser === 0 || (own.runAsUser === undefined && runsAsRoot(c.image, policy));
  };
  if (pod.runAsNonRoot === undefined && pod.runAsUser === undefined && !containers.some(breaks)) pod.runAsNonRoot = true;
  for (const c of containers) {
    const sc = (c.securityContext = isObj(c.securityContext) ? c.securityContext : {});
    if (sc.privileged === true) continue; // opted in (validation checks the annotation); these would contradict it
    const adds = (sc.capabilities?.add ?? []).map((cap) => cap.toUpperCase().replace(/^CAP_/, ''));
    // Kubernetes refuses allowPrivilegeEscalation: false together with CAP_SYS_ADMIN.
    if (!adds.includes('SYS_ADMIN')) sc.allowPrivilegeEscalation ??= false;
    const caps = (sc.capabilities = isObj(sc.capabilities) ? sc.capabilities : {});
    caps.drop ??= ['ALL'];
  }
}

/** HF_HOME into the model cache for containers that mount it (not the download step: it is told --cache-dir). */
function injectConfiguration(spec: PodSpec, policy: RegistryPolicy | undefined): void {
  const cacheVolumes = new Set((Array.isArray(spec.volumes) ? spec.volumes : []).filter((v) => isObj(v) && (v.name === CACHE_VOLUME || v.hostPath?.path?.replace(/\/+$/, '') === NODE_CACHE_PATH)).map((v) => v.name));
  for (const c of containersOf(spec, 'containers')) {
    const mount = (Array.isArray(c.volumeMounts) ? c.volumeMounts : []).find((m) => isObj(m) && cacheVolumes.has(m.name));
    if (!mount) continue;
    const env = Array.isArray(c.env) ? c.env : [];
    if (!env.some((e) => isObj(e) && e.name === 'HF_HOME')) env.push({ name: 'HF_HOME', value: `${mount.mountPath.replace(/\/+$/, '')}/${HF_HOME_DIR}` });
    c.env = env;
  }
  if (policy?.safetensorsOnly) {
    for (const c of containersOf(spec, 'initContainers')) {
      if (c.name !== DOWNLOAD_CONTAINER) continue;
      const args = Array.isArray(c.args) ? c.args : [];
      if (!args.some((a) => a === SAFETENSORS_ONLY_FLAG || a.startsWith(`${SAFETENSORS_ONLY_FLAG}=`))) args.push(SAFETENSORS_ONLY_FLAG);
      c.args = args;
    }
  }
}

/** Every default of one pod template, in place. */
export function defaultPodTemplate(template: PodTemplate, policy: RegistryPolicy | undefined): void {
  if (!isObj(template.spec)) return;
  const spec = template.spec as PodSpec;
  defaultScheduling(spec, policy);
  defaultSecurity(spec, policy);
  injectConfiguration(spec, policy);
}

/**
 * What validation refuses in a pod template at `path` (`spec.roles[0].template`), beyond the resource checks. On
 * UPDATE (`before`: the role's stored template) a container that was privileged already stays allowed, so a
 * ModelInfer stored before this rule can still be scaled and edited.
 */
export function validatePodTemplate(template: PodTemplate, path: string, before?: PodTemplate): FieldError[] {
  const errors: FieldError[] = [];
  if (!isObj(template.spec)) return errors;
  const spec = template.spec as PodSpec;
  const wasPrivileged = new Set(before && isObj(before.spec) ? allContainers(before.spec as PodSpec).filter((c) => c.securityContext?.privileged === true).map((c) => c.name) : []);
  const optedIn = template.metadata?.annotations?.[ALLOW_PRIVILEGED_ANNOTATION] === 'true';
  for (const list of ['initContainers', 'containers'] as const) {
    containersOf(spec, list).forEach((c, i) => {
      const at = `${path}.spec.${list}[${i}]`;
      errors.push(...checkWholeGpus(c.resources, `${at}.resources`));
      if (c.securityContext?.privileged === true && !optedIn && !wasPrivileged.has(c.name)) {
        errors.push({
          field: `${at}.securityContext.privileged`,
          type: 'Forbidden',
          detail: `privileged containers are refused unless the pod template carries the annotation ${ALLOW_PRIVILEGED_ANNOTATION}: "true"`,
        });
      }
    });
  }
  return errors;
}

/**
 * A ModelInfer with a download step while the webhook server has not read the policy yet: refused (to be retried),
 * since defaulting it without the policy could drop --safetensors-only. Others are not held up.
 */
export function checkPolicyLoaded(mi: ModelInfer, provider: PolicyProvider): FieldError[] {
  const state = provider.current();
  if (state.state !== 'unavailable') return [];
  const errors: FieldError[] = [];
  (mi.spec.roles ?? []).forEach((role, i) => {
    const spec = isObj(role?.template?.spec) ? (role.template.spec as PodSpec) : {};
    containersOf(spec, 'initContainers').forEach((c, j) => {
      if (c.name === DOWNLOAD_CONTAINER) errors.push({ field: `spec.roles[${i}].template.spec.initContainers[${j}]`, type: 'Forbidden', detail: `the registry policy is not loaded yet (${state.reason}); retry` });
    });
  });
  return errors;
}
