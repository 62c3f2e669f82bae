// Quick checks of the install artifacts, without helm (test/cluster/install.test.ts renders the chart with the real
// helm, compares with the committed manifests and applies them to a real kube-apiserver): the chart's CRDs and the
// rendered manifests carry the generated CRDs, the RBAC is least-privilege, the workloads are hardened, and the
// Dockerfile builds the images the chart names, as non-root, with entrypoints the CLI has.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { CHART_CRD_DIR, CHART_DASHBOARD_DIR, CHART_DIR, MANIFESTS_FILE, NAMESPACE, REPO } from '../../scripts/render-manifests.ts';
import { DASHBOARDS, GRAFANA_DIR, renderDashboards } from '../../scripts/grafana-dashboards.ts';
import { renderCrds } from './generate.ts';

interface Doc {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  [key: string]: any;
}

const docs: Doc[] = parseAllDocuments(readFileSync(MANIFESTS_FILE, 'utf8'))
  .map((d) => d.toJS() as Doc | null)
  .filter((d): d is Doc => d !== null);
const find = (kind: string, name: string) => {
  const doc = docs.find((d) => d.kind === kind && d.metadata.name === name);
  assert.ok(doc, `${kind} ${name} in ${MANIFESTS_FILE}`);
  return doc;
};

test('the chart carries the generated CRDs (run `npm run render` after `npm run generate`)', () => {
  const files = renderCrds();
  assert.deepEqual(readdirSync(CHART_CRD_DIR).sort(), [...files.keys()].sort());
  for (const [file, content] of files) {
    assert.equal(readFileSync(join(CHART_CRD_DIR, file), 'utf8'), content, `${file} in the chart is stale: run npm run render`);
  }
});

test('the rendered manifests hold exactly the generated CRDs, first, then the namespace', () => {
  const crds = docs.filter((d) => d.kind === 'CustomResourceDefinition');
  const generated = [...renderCrds().values()].map((y) => parse(y));
  assert.deepEqual(
    crds.map((c) => c.metadata.name).sort(),
    generated.map((c) => c.metadata.name).sort(),
  );
  for (const g of generated) assert.deepEqual(find('CustomResourceDefinition', g.metadata.name), g, `${g.metadata.name} is stale: npm run render`);
  assert.equal(docs.findIndex((d) => d.kind !== 'CustomResourceDefinition'), crds.length, 'CRDs come first');
  assert.equal(docs[crds.length]!.kind, 'Namespace');
  assert.equal(docs[crds.length]!.metadata.name, NAMESPACE);
  for (const d of docs) {
    if (d.kind === 'CustomResourceDefinition' || d.kind === 'Namespace' || d.kind.startsWith('Cluster')) assert.equal(d.metadata.namespace, undefined);
    else assert.equal(d.metadata.namespace, NAMESPACE, `${d.kind} ${d.metadata.name} namespace`);
  }
});

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}
const rulesOf = (kind: string, name: string): Rule[] => find(kind, name).rules;
const allows = (rules: Rule[], group: string, resource: string, verb: string) =>
  rules.some((r) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb));

test('RBAC: no wildcards, the gateway only reads (and starts a ModelInfer from zero), the controller manager only touches its webhook certificate Secret', () => {
  const rbac = docs.filter((d) => d.kind === 'ClusterRole' || d.kind === 'Role');
  assert.equal(rbac.length, 6);
  for (const role of rbac) {
    for (const rule of role.rules as Rule[]) {
      for (const list of [rule.apiGroups, rule.resources, rule.verbs]) assert.ok(!list.includes('*'), `${role.metadata.name}: no wildcard`);
      assert.ok(!rule.verbs.includes('deletecollection') && !rule.verbs.includes('escalate') && !rule.verbs.includes('bind') && !rule.verbs.includes('impersonate'));
    }
  }
  const gateway = rulesOf('ClusterRole', 'matrixinfer-gateway');
  // The gateway reads; its one write is the 0 → 1 step of a ModelInfer at zero, through the scale subresource.
  for (const rule of gateway) {
    if (rule.resources.includes('modelinfers/scale')) assert.deepEqual([rule.resources, rule.verbs], [['modelinfers/scale'], ['get', 'patch']]);
    else assert.deepEqual(rule.verbs, ['list', 'watch']);
  }
  assert.ok(!allows(gateway, 'workload.matrixinfer.ai', 'modelinfers', 'patch'));
  assert.ok(allows(gateway, 'networking.matrixinfer.ai', 'modelroutes', 'watch'));
  assert.ok(allows(gateway, '', 'pods', 'list'));
  assert.ok(!allows(gateway, '', 'pods', 'create'));
  const manager = rulesOf('ClusterRole', 'matrixinfer-controller-manager');
  assert.ok(!manager.some((r) => r.resources.includes('secrets')));
  // Webhooks: the certificate Secret and the two configurations, read and replaced by name only.
  const webhookSecrets = rulesOf('Role', 'matrixinfer-controller-manager-webhook');
  for (const rule of webhookSecrets.filter((r) => r.resources.includes('secrets'))) {
    assert.ok(rule.verbs.includes('create') ? !rule.resourceNames : rule.resourceNames?.join() === 'matrixinfer-webhook-cert');
  }
  // The registry policy ConfigMap (src/webhooks/policy.ts): read, by name only.
  assert.deepEqual(webhookSecrets.filter((r) => !r.resources.includes('secrets')), [
    { apiGroups: [''], resources: ['configmaps'], resourceNames: ['matrixinfer-registry-policy'], verbs: ['get', 'list', 'watch'] },
  ]);
  const webhookConfigs = rulesOf('ClusterRole', 'matrixinfer-controller-manager-webhook');
  for (const rule of webhookConfigs) assert.ok(rule.verbs.includes('create') ? rule.verbs.length === 1 : rule.resourceNames?.length === 1);
  assert.ok(!allows(webhookConfigs, 'admissionregistration.k8s.io', 'validatingwebhookconfigurations', 'delete'));
  assert.ok(allows(manager, '', 'pods', 'create') && allows(manager, '', 'pods', 'delete'));
  assert.ok(!allows(manager, '', 'services', 'delete'), 'children go by garbage collection');
  assert.ok(allows(manager, 'registry.matrixinfer.ai', 'models/status', 'patch'));
  assert.ok(!allows(manager, 'registry.matrixinfer.ai', 'models', 'update'), 'the manager never changes a user\'s Model spec');
  // The Models' download step annotates its own Pod, and that is all its identity may do.
  assert.deepEqual(rulesOf('ClusterRole', 'matrixinfer-model-download'), [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'patch'] }]);
  assert.ok(!allows(manager, '', 'serviceaccounts', 'update') && !allows(manager, 'rbac.authorization.k8s.io', 'rolebindings', 'update'), 'its identity is created and replaced, never edited');
  // The Lease: a namespaced Role, get/update only on the manager's own Lease.
  const lease = rulesOf('Role', 'matrixinfer-controller-manager-leader-election');
  assert.deepEqual(lease.find((r) => r.verbs.includes('update'))?.resourceNames, ['matrixinfer-controller-manager']);
  for (const binding of docs.filter((d) => d.kind.endsWith('Binding'))) {
    assert.equal(binding.subjects.length, 1);
    assert.equal(binding.subjects[0].kind, 'ServiceAccount');
    assert.equal(binding.subjects[0].namespace, NAMESPACE);
    assert.equal(binding.subjects[0].name, binding.metadata.name.replace(/-(leader-election|webhook)$/, ''));
  }
});

test('Deployments: own ServiceAccounts, hardened, probed, with resource requests and a PodDisruptionBudget', () => {
  const expected = {
    'matrixinfer-controller-manager': { image: 'matrixinfer/controller-manager:0.1.0', command: 'controller-manager', probes: ['/healthz', '/readyz'] },
    'matrixinfer-gateway': { image: 'matrixinfer/gateway:0.1.0', command: 'gateway', probes: ['/health', '/ready'] },
  };
  for (const [name, want] of Object.entries(expected)) {
    const deploy = find('Deployment', name);
    const pod = deploy.spec.template.spec;
    assert.equal(pod.serviceAccountName, name);
    find('ServiceAccount', name);
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
    const [c] = pod.containers;
    assert.equal(c.image, want.image);
    assert.equal(c.args[0], want.command);
    assert.equal(c.securityContext.allowPrivilegeEscalation, false);
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.deepEqual(c.securityContext.capabilities.drop, ['ALL']);
    assert.ok(c.resources.requests.cpu && c.resources.requests.memory, 'resource requests');
    assert.deepEqual([c.livenessProbe.httpGet.path, c.readinessProbe.httpGet.path], want.probes);
    assert.ok(c.ports.some((p: { name: string }) => p.name === c.readinessProbe.httpGet.port), 'probe port is a named container port');
    assert.ok(deploy.spec.replicas >= 2, 'HA: two replicas');
    const pdb = find('PodDisruptionBudget', name);
    assert.deepEqual(pdb.spec.selector.matchLabels, deploy.spec.selector.matchLabels);
    assert.deepEqual(deploy.spec.template.metadata.labels, deploy.spec.selector.matchLabels);
  }
  const gw = find('Deployment', 'matrixinfer-gateway').spec.template.spec.containers[0];
  assert.ok(gw.args.includes('--host=0.0.0.0'), 'the gateway listens on the pod IP');
  const svc = find('Service', 'matrixinfer-gateway');
  assert.deepEqual(svc.spec.selector, find('Deployment', 'matrixinfer-gateway').spec.selector.matchLabels);
  assert.equal(svc.spec.ports[0].targetPort, 'http');
  assert.ok(!docs.some((d) => d.kind === 'ServiceMonitor' || d.kind === 'PodMonitor'), 'ServiceMonitor is off by default');
  // Every manager replica's /metrics behind one Service (what the ServiceMonitor selects, by its scrape label).
  const metricsSvc = find('Service', 'matrixinfer-controller-manager-metrics');
  assert.deepEqual(metricsSvc.spec.selector, find('Deployment', 'matrixinfer-controller-manager').spec.selector.matchLabels);
  assert.deepEqual(metricsSvc.spec.ports, [{ name: 'metrics', port: 8080, targetPort: 'metrics', protocol: 'TCP' }]);
  assert.equal((metricsSvc.metadata as { labels?: Record<string, string> }).labels?.['matrixinfer.ai/scrape'], 'metrics');
  assert.ok(find('Deployment', 'matrixinfer-controller-manager').spec.template.spec.containers[0].ports.some((p: { name: string; containerPort: number }) => p.name === 'metrics' && p.containerPort === 8080));
  // The webhook Service reaches every manager replica on its HTTPS webhook port, which is also its readiness probe.
  const manager = find('Deployment', 'matrixinfer-controller-manager');
  const webhookSvc = find('Service', 'matrixinfer-webhook');
  assert.deepEqual(webhookSvc.spec.selector, manager.spec.selector.matchLabels);
  assert.deepEqual(webhookSvc.spec.ports, [{ name: 'webhook', port: 443, targetPort: 'webhook', protocol: 'TCP' }]);
  const mc = manager.spec.template.spec.containers[0];
  assert.ok(mc.args.includes('--webhook-service=matrixinfer-webhook') && mc.args.includes(`--webhook-namespace=${NAMESPACE}`));
  assert.deepEqual(mc.readinessProbe.httpGet, { path: '/readyz', port: 'webhook', scheme: 'HTTPS' });
});

test('Dockerfile: multi-stage, non-root, one target per chart image, entrypoints the CLI has', () => {
  const dockerfile = readFileSync(join(REPO, 'deploy/docker/Dockerfile'), 'utf8');
  const stages = [...dockerfile.matchAll(/^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/gim)].map((m) => ({ from: m[1]!, name: m[2] }));
  assert.ok(stages.length >= 3, 'multi-stage');
  assert.match(dockerfile, /npm ci --omit=dev/);
  assert.match(dockerfile, /^ARG NODE_IMAGE=node:24-[a-z]+-slim$/m);
  assert.match(dockerfile, /^USER 1000:1000$/m, 'numeric non-root user');
  assert.ok(!/^USER\s+(root|0)\b/m.test(dockerfile));
  const values = parse(readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8'));
  const main = readFileSync(join(REPO, 'src/cli/main.ts'), 'utf8');
  for (const component of ['controller-manager', 'gateway', 'engine']) {
    const stage = stages.find((s) => s.name === component);
    assert.ok(stage, `a ${component} target`);
    assert.equal(stage.from, 'runtime');
    assert.ok(main.includes(`command('${component}')`), `the CLI has \`${component}\``);
  }
  assert.equal(values.controllerManager.image.repository, 'matrixinfer/controller-manager');
  assert.equal(values.gateway.image.repository, 'matrixinfer/gateway');
});

test('Grafana: deploy/grafana/ and the chart hold the generated dashboards, shipped as one ConfigMap with the sidecar label', () => {
  const rendered = renderDashboards();
  assert.deepEqual([...rendered.keys()].sort(), ['autoscaling.json', 'gateway-routing.json', 'model-serving.json', 'platform-overview.json']);
  const configMap = find('ConfigMap', 'matrixinfer-grafana-dashboards');
  assert.equal((configMap.metadata as { labels?: Record<string, string> }).labels?.grafana_dashboard, '1');
  for (const [file, text] of rendered) {
    assert.equal(readFileSync(join(GRAFANA_DIR, file), 'utf8'), text, `deploy/grafana/${file} is stale: run npm run render`);
    assert.equal(readFileSync(join(CHART_DASHBOARD_DIR, file), 'utf8'), text, `the chart's dashboards/${file} is stale: run npm run render`);
    assert.equal(configMap.data[file], text, `the ConfigMap's ${file}`);
    const dashboard = JSON.parse(text) as { uid: string; panels: { id: number; type: string; gridPos: { x: number; w: number }; targets?: { expr: string }[] }[] };
    const ids = dashboard.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, `${file}: panel ids are unique`);
    for (const p of dashboard.panels) {
      assert.ok(p.gridPos.x + p.gridPos.w <= 24, `${file}: panel ${p.id} fits the 24-column grid`);
      if (p.type !== 'row') assert.ok((p.targets ?? []).length > 0 && p.targets!.every((t) => t.expr.length > 0), `${file}: panel ${p.id} has queries`);
    }
  }
  const uids = DASHBOARDS.map((d) => d.uid);
  assert.equal(new Set(uids).size, uids.length, 'dashboard uids are unique');
});
