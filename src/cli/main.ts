#!/usr/bin/env node
// The `matrixinfer` command. Subcommands load their modules lazily so that short-lived commands and the
// engine (started once per pod) don't pay for the whole platform's imports.
import { flushCompileCache } from 'node:module';
import { Command, Option } from 'commander';
import { tracingConfig } from '../kube/tracing.ts';

const argv = process.argv.slice(2);

async function main(): Promise<void> {
  // The engine takes vLLM's flags verbatim, so its arguments bypass commander here.
  if (argv[0] === 'engine') {
    const { runEngine } = await import('./components.ts');
    return runEngine(argv.slice(1));
  }

  const program = new Command('matrixinfer')
    .description('MatrixInfer: deploy, route and autoscale LLM inference on Kubernetes, or locally with one command.')
    .showHelpAfterError();

  const out = (text: string) => process.stdout.write(text.endsWith('\n') ? text : text + '\n');
  const clientOptions = (command: Command) =>
    command
      .option('--kubeconfig <path>', 'kubeconfig file (default: $KUBECONFIG, then $MATRIXINFER_HOME/kubeconfig, then ~/.kube/config)')
      .option('-n, --namespace <name>', 'namespace (default: the kubeconfig context namespace, else default)');

  program
    .command('up')
    .description('Run the whole platform locally (API server, controllers, node agent, gateway) and apply manifests')
    .option('-f, --filename <path...>', 'manifests to apply once the platform is up', [])
    .option('--home <dir>', 'state, logs and kubeconfig directory (default $MATRIXINFER_HOME or ~/.matrixinfer)')
    .option('--gateway-port <port>', 'gateway port', '8080')
    .option('--gateway-tls-port <port>', 'gateway HTTPS port (ModelServers with tls.enabled)', '8443')
    .option('--gateway-grpc-port <port>', "gateway gRPC port (the Open Inference Protocol's GRPCInferenceService, health, reflection; cleartext and TLS)", '8081')
    .option('--apiserver-port <port>', 'embedded API server port', '6443')
    .option('--controller-manager-metrics-port <port>', "the controller manager's Prometheus /metrics port (default 8082, or a free port when 8082 is taken)")
    .option('--dashboard-port <port>', 'the web dashboard (default 8090, or a free port when 8090 is taken)')
    .option('--agent-port <port>', "the node agent's /metrics and /stats/summary port (default: a free port; $MATRIXINFER_HOME/endpoints.json names it)")
    .action(async (opts: { filename: string[]; home?: string; gatewayPort: string; gatewayTlsPort: string; gatewayGrpcPort: string; apiserverPort: string; controllerManagerMetricsPort?: string; dashboardPort?: string; agentPort?: string }) => {
      const { up } = await import('./up.ts');
      const started = Date.now();
      const platform = await up({
        files: opts.filename,
        ...(opts.home ? { home: opts.home } : {}),
        gatewayPort: Number(opts.gatewayPort),
        gatewayTlsPort: Number(opts.gatewayTlsPort),
        gatewayGrpcPort: Number(opts.gatewayGrpcPort),
        apiserverPort: Number(opts.apiserverPort),
        ...(opts.controllerManagerMetricsPort !== undefined ? { controllerManagerMetricsPort: Number(opts.controllerManagerMetricsPort) } : {}),
        ...(opts.dashboardPort !== undefined ? { dashboardPort: Number(opts.dashboardPort) } : {}),
        ...(opts.agentPort !== undefined ? { agentPort: Number(opts.agentPort) } : {}),
      });
      out(
        [
          '',
          `MatrixInfer is up (${((Date.now() - started) / 1000).toFixed(1)} s).`,
          `  dashboard:   ${platform.dashboardUrl}`,
          `  gateway:     ${platform.gatewayUrl}  (HTTPS: ${platform.gatewayTlsUrl}; gRPC: ${platform.gatewayGrpcAddress}, cleartext and TLS)`,
          `  metrics:     ${platform.metricsUrl} (controller manager, the autoscaler's decisions), ${platform.gatewayUrl}/metrics (gateway)`,
          `  endpoints:   ${platform.endpointsFile} (every component's URLs, metrics included)`,
          `  kubeconfig:  ${platform.kubeconfig}`,
          ...(tracesTo() !== undefined ? [`  traces:      OTLP to ${tracesTo()} (services matrixinfer-apiserver, -controller-manager, -agent, -gateway, -engine)`] : []),
          `  state, logs: ${platform.home}`,
          '',
          `Try:  curl -s ${platform.gatewayUrl}/v1/chat/completions -H 'content-type: application/json' -d '{"model":"llama-7b","messages":[{"role":"user","content":"Hello"}]}'`,
          `      curl -s ${platform.gatewayUrl}/v2/models/llama-7b/infer -d '{"inputs":[{"name":"text_input","datatype":"BYTES","shape":[1],"data":["Hello"]}]}'`,
          `      kubectl --kubeconfig ${platform.kubeconfig} get models,modelinfers,modelservers,modelroutes,pods -A`,
          'Press Ctrl-C to stop; everything applied is kept for the next start.',
        ].join('\n'),
      );
      let stopping = false;
      const shutdown = () => {
        if (stopping) return;
        stopping = true;
        out('stopping MatrixInfer...');
        platform.stop().then(() => process.exit(0));
      };
      process.on('SIGINT', shutdown);
      process.on('SIGTERM', shutdown);
    });

  program
    .command('apiserver')
    .description('Run the embedded Kubernetes-compatible API server')
    .option('--data-dir <dir>', 'storage directory (default $MATRIXINFER_HOME/data)')
    .option('--host <address>', 'listen address', '127.0.0.1')
    .option('--port <port>', 'listen port', '6443')
    .action(async (opts: { dataDir?: string; host: string; port: string }) => {
      const { runApiServer } = await import('./components.ts');
      await runApiServer({ ...(opts.dataDir ? { dataDir: opts.dataDir } : {}), host: opts.host, port: Number(opts.port) });
    });

  program
    .command('controller-manager')
    .description('Run the controllers (Model, ModelInfer, networking status, autoscaler, the production-stack kinds)')
    .option('--kubeconfig <path>', 'kubeconfig file (default: in-cluster or $KUBECONFIG)')
    .option('--namespace <name>', 'watch one namespace only')
    .option('--no-leader-elect', 'run without leader election')
    .option('--lease-namespace <name>', 'namespace of the leader election Lease (default: --namespace, $POD_NAMESPACE, default)')
    .option('--identity <id>', 'leader election identity (default: <hostname>_<random>)')
    .option('--webhook-port <port>', 'serve the admission webhooks over TLS on this port (e.g. 9443); off when not given')
    .option('--webhook-host <address>', 'webhook listen address', '0.0.0.0')
    .option('--webhook-service <name>', 'Service in front of the webhooks (certificate names, webhook configurations)', 'matrixinfer-webhook')
    .option('--webhook-namespace <name>', 'namespace of that Service and of the certificate Secret (default: the Lease namespace)')
    .option('--webhook-url <url>', 'call the webhooks at this URL instead of the Service, e.g. https://127.0.0.1:{port} (API servers without Service routing)')
    .option('--webhook-cert-dir <dir>', 'also write the serving certificate, key and CA bundle here')
    .option('--health-port <port>', 'serve /healthz and /readyz on this port (off when not given)')
    .option('--metrics-port <port>', "serve Prometheus metrics (the autoscaler's decisions, process metrics) on GET /metrics on this port (e.g. 8080); off when not given")
    .option('--metrics-host <address>', 'metrics listen address', '0.0.0.0')
    .option('--dashboard-port <port>', 'serve the web dashboard (models, pods, traffic, latency, routing, the autoscaler timeline) and its JSON API on this port (e.g. 8090); off when not given')
    .option('--dashboard-host <address>', 'dashboard listen address (port-forward to it on a cluster)', '127.0.0.1')
    .option('--dashboard-prometheus-url <url>', "the dashboard's time series from this Prometheus (range queries) instead of its in-memory last hour")
    .option('--gateway-namespace <name>', 'namespace of the gateway pods that ModelServer Services lead to (default: $POD_NAMESPACE)')
    .option('--gateway-selector <selector>', 'label selector (key=value,...) of the gateway pods', 'app.kubernetes.io/name=matrixinfer,app.kubernetes.io/component=gateway')
    .option('--gateway-address <ip...>', 'fixed gateway addresses instead of pods (matrixinfer up: 127.0.0.1)')
    .option('--gateway-port <port>', "the gateway's HTTP port", '8080')
    .option('--gateway-tls-port <port>', "the gateway's HTTPS port (ModelServers with tls.enabled)", '8443')
    .option('--engine-network-policy', 'a NetworkPolicy per ModelInfer: engine ports reachable only from the gateway (and Prometheus)')
    .option('--download-role <ClusterRole/NAME|Role/NAME>', "bind the download step's own ServiceAccount to this role (get, patch pods) in each Model namespace, so it reports progress; only that container gets the token")
    .option('--downloader-image <image>', "image of the Models' download step (init container of the engine pods); default matrixinfer/downloader:<version>")
    .option('--prometheus-url <url>', "Prometheus base URL for autoscaling metrics with a prometheus.query and no address (e.g. http://prometheus.monitoring:9090)")
    .option('--prometheus-namespace <name>', 'with --engine-network-policy: namespace of the Prometheus pods allowed to scrape engines')
    .option('--prometheus-selector <selector>', 'label selector (key=value,...) of those Prometheus pods', '')
    .option('--controller-manager-namespace <name>', 'with --engine-network-policy: namespace of the controller-manager pods allowed to scrape engine metrics for the autoscaler (default: $POD_NAMESPACE; no rule when neither)')
    .option('--controller-manager-selector <selector>', 'label selector (key=value,...) of those controller-manager pods', 'app.kubernetes.io/name=matrixinfer,app.kubernetes.io/component=controller-manager')
    .addHelpText('after', '\nEnvironment (the production-stack router controller\'s, seed 004; flags win): KUBERNETES_NAMESPACE (the namespace it runs in,\nwhen $POD_NAMESPACE is unset), METRICS_ADDR and HEALTH_PROBE_ADDR ([host]:port), LEADER_ELECTION_ENABLED (true/false).\nGPU_METRICS_ENDPOINT is not used (src/cli/seed-env.ts says why).\n')
    .action(async (opts: { kubeconfig?: string; namespace?: string; leaderElect: boolean; leaseNamespace?: string; identity?: string; webhookPort?: string; webhookHost?: string; webhookService?: string; webhookNamespace?: string; webhookUrl?: string; webhookCertDir?: string; healthPort?: string; metricsPort?: string; metricsHost: string; dashboardPort?: string; dashboardHost: string; dashboardPrometheusUrl?: string; gatewayNamespace?: string; gatewaySelector?: string; gatewayAddress?: string[]; gatewayPort: string; gatewayTlsPort: string; engineNetworkPolicy?: boolean; prometheusUrl?: string; downloaderImage?: string; downloadRole?: string; prometheusNamespace?: string; prometheusSelector?: string; controllerManagerNamespace?: string; controllerManagerSelector?: string }, command: Command) => {
      const { runControllerManager } = await import('./components.ts');
      const { seedEnvironment } = await import('./seed-env.ts');
      const { writeRecord } = await import('../kube/log.ts');
      const env = seedEnvironment(process.env);
      if (env.errors.length > 0) throw new Error(env.errors.join('; '));
      for (const line of env.ignored) writeRecord('warn', 'controller-manager', line);
      if (env.podNamespace) process.env.POD_NAMESPACE = env.podNamespace;
      const fromFlag = (name: string) => command.getOptionValueSource(name) === 'cli';
      const metrics = opts.metricsPort !== undefined ? { port: Number(opts.metricsPort), host: opts.metricsHost } : env.metrics ? { port: env.metrics.port, host: fromFlag('metricsHost') ? opts.metricsHost : (env.metrics.host ?? opts.metricsHost) } : undefined;
      const health = opts.healthPort !== undefined ? { port: Number(opts.healthPort) } : env.health;
      await runControllerManager({
        ...opts,
        leaderElect: fromFlag('leaderElect') ? opts.leaderElect : (env.leaderElect ?? opts.leaderElect),
        webhookPort: opts.webhookPort === undefined ? undefined : Number(opts.webhookPort),
        healthPort: health?.port,
        ...(health?.host ? { healthHost: health.host } : {}),
        metricsPort: metrics?.port,
        metricsHost: metrics?.host ?? opts.metricsHost,
        dashboardPort: opts.dashboardPort === undefined ? undefined : Number(opts.dashboardPort),
        gatewayPort: Number(opts.gatewayPort),
        gatewayTlsPort: Number(opts.gatewayTlsPort),
      });
    });

  program
    .command('agent')
    .description('Run the local node agent: runs pods bound to this node as processes on loopback IPs')
    .option('--kubeconfig <path>', 'kubeconfig file')
    .option('--node-name <name>', 'node name', undefined)
    .option('--engine-startup-seconds <s>', "simulated engines' model load in seconds, or `profile` for the profile's estimated cold start (default 2)")
    .option('--port <port>', "serve /metrics (the kubelet's series) and /stats/summary on this port of the node address (default: a free port)")
    .action(async (opts: { kubeconfig?: string; nodeName?: string; engineStartupSeconds?: string; port?: string }) => {
      const { runAgent } = await import('./components.ts');
      await runAgent(opts);
    });

  program
    .command('gateway')
    .description('Run the inference gateway')
    .option('--kubeconfig <path>', 'kubeconfig file')
    .option('--host <address>', 'listen address', '127.0.0.1')
    .option('--port <port>', 'listen port', '8080')
    .option('--tls-port <port>', 'HTTPS listen port for ModelServers with tls.enabled (certificate by SNI from tls.secretName); off when not given')
    .option('--grpc-port <port>', "gRPC listen port: the Open Inference Protocol's GRPCInferenceService, grpc.health.v1 and reflection, cleartext HTTP/2 and TLS (the HTTPS certificates) on one port; off when not given")
    .option('--namespace <name>', 'serve one namespace only')
    .option('--no-watch-secrets', 'do not watch Secrets (TLS certificates, API keys); API-key authentication then refuses all')
    .option('--hold-queue-size <n>', 'requests that may wait per ModelServer while its ModelInfer starts from zero replicas (0: off, 503 at once)', '256')
    .option('--hold-max-wait <duration>', "longest such wait (also bounded by the ModelServer's routing.timeout), e.g. 60s", '60s')
    .action(async (opts: { kubeconfig?: string; host: string; port: string; tlsPort?: string; grpcPort?: string; namespace?: string; watchSecrets: boolean; holdQueueSize: string; holdMaxWait: string }) => {
      const { runGateway } = await import('./components.ts');
      const { parseDuration } = await import('../kube/units.ts');
      const holdQueueSize = Number(opts.holdQueueSize);
      const holdMaxWaitMs = parseDuration(opts.holdMaxWait);
      if (!Number.isInteger(holdQueueSize) || holdQueueSize < 0) throw new Error(`--hold-queue-size must be a whole number ≥ 0, not ${opts.holdQueueSize}`);
      if (holdMaxWaitMs === undefined || holdMaxWaitMs <= 0) throw new Error(`--hold-max-wait must be a positive duration such as 60s, not ${opts.holdMaxWait}`);
      await runGateway({
        ...opts,
        port: Number(opts.port),
        tlsPort: opts.tlsPort === undefined ? undefined : Number(opts.tlsPort),
        grpcPort: opts.grpcPort === undefined ? undefined : Number(opts.grpcPort),
        holdQueueSize,
        holdMaxWaitMs,
      });
    });

  program.command('engine').description('Run the simulated vLLM-compatible engine (see `matrixinfer engine --help`)');

  clientOptions(program.command('apply').description('Create or update objects from manifests (validated first; all or nothing)'))
    .requiredOption('-f, --filename <path...>', 'manifest files or directories, - for stdin')
    .option('--wait', 'wait until the applied Models are Ready (or one Failed), showing their download progress')
    .option('--timeout <duration>', 'with --wait: give up after this long (e.g. 90s, 30m)', '30m')
    .action(async (opts: { filename: string[]; kubeconfig?: string; namespace?: string; wait?: boolean; timeout: string }) => {
      const [{ clientContext }, { apply }] = await Promise.all([import('./context.ts'), import('./apply.ts')]);
      const ctx = clientContext(opts);
      const models = await apply(ctx, opts.filename, out);
      if (!opts.wait || models.length === 0) return;
      const [{ waitForModels }, { parseDuration }] = await Promise.all([import('./wait.ts'), import('../kube/units.ts')]);
      const ok = await waitForModels(ctx, models, { timeoutMs: parseDuration(opts.timeout) ?? 1_800_000, tty: process.stdout.isTTY === true, write: (t) => process.stdout.write(t) });
      if (!ok) process.exitCode = 1;
    });

  clientOptions(program.command('get').description('List objects, e.g. `get models,pods -A`, `get model llama-7b -o yaml`'))
    .argument('<resources>', 'resource type(s), comma separated')
    .argument('[names...]', 'object names')
    .option('-A, --all-namespaces', 'list across all namespaces')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['yaml', 'json', 'wide', 'name']))
    .option('-l, --selector <selector>', 'label selector')
    .option('-w, --watch', 'watch for changes')
    .action(async (resources: string, names: string[], opts: { kubeconfig?: string; namespace?: string; allNamespaces?: boolean; output?: 'yaml' | 'json' | 'wide' | 'name'; selector?: string; watch?: boolean }) => {
      const [{ clientContext }, { get }] = await Promise.all([import('./context.ts'), import('./get.ts')]);
      await get(clientContext(opts), resources, names, opts, out);
    });

  clientOptions(program.command('describe').description('Show an object and the events about it'))
    .argument('<resource>', 'resource type')
    .argument('[names...]', 'object names')
    .action(async (resource: string, names: string[], opts: { kubeconfig?: string; namespace?: string }) => {
      const [{ clientContext }, { describe }] = await Promise.all([import('./context.ts'), import('./describe.ts')]);
      await describe(clientContext(opts), resource, names, out);
    });

  clientOptions(program.command('delete').description('Delete objects by type and name, or from manifests'))
    .argument('[resource]', 'resource type')
    .argument('[names...]', 'object names')
    .option('-f, --filename <path...>', 'manifest files or directories')
    .option('--ignore-not-found', 'treat missing objects as deleted')
    .option('--no-wait', 'return without waiting for the objects to be gone')
    .action(async (resource: string | undefined, names: string[], opts: { kubeconfig?: string; namespace?: string; filename?: string[]; ignoreNotFound?: boolean; wait: boolean }) => {
      const [{ clientContext }, { del }] = await Promise.all([import('./context.ts'), import('./delete.ts')]);
      await del(clientContext(opts), resource, names, { files: opts.filename ?? [], wait: opts.wait, ignoreNotFound: !!opts.ignoreNotFound }, out);
    });

  const rollout = program.command('rollout').description("Manage a Model's rollouts: its spec history and rollbacks");
  const revisionNumber = (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) throw new Error(`revision must be a non-negative integer, not "${value}"`);
    return n;
  };
  clientOptions(rollout.command('history').description('List the revisions of a Model (REVISION, CHANGE-CAUSE, what changed)'))
    .argument('<target>', 'model/NAME (or: model NAME)')
    .argument('[name]')
    .option('--revision <n>', 'show the spec of this revision', revisionNumber)
    .action(async (target: string, name: string | undefined, opts: { kubeconfig?: string; namespace?: string; revision?: number }) => {
      const [{ clientContext }, { parseTarget, rolloutHistory }] = await Promise.all([import('./context.ts'), import('./rollout.ts')]);
      await rolloutHistory(clientContext(opts), parseTarget(target, name), { ...(opts.revision !== undefined ? { revision: opts.revision } : {}) }, out);
    });
  clientOptions(rollout.command('undo').description("Roll a Model back to an earlier revision's spec (default: the previous one)"))
    .argument('<target>', 'model/NAME (or: model NAME)')
    .argument('[name]')
    .option('--to-revision <n>', 'the revision to roll back to (0: the previous one)', revisionNumber)
    .action(async (target: string, name: string | undefined, opts: { kubeconfig?: string; namespace?: string; toRevision?: number }) => {
      const [{ clientContext }, { parseTarget, rolloutUndo }] = await Promise.all([import('./context.ts'), import('./rollout.ts')]);
      await rolloutUndo(clientContext(opts), parseTarget(target, name), { ...(opts.toRevision !== undefined ? { toRevision: opts.toRevision } : {}) }, out);
    });

  clientOptions(program.command('logs').description('Print the logs of a pod container'))
    .argument('<pod>', 'pod name')
    .option('-c, --container <name>', 'container name (default: the first)')
    .option('-f, --follow', 'stream new output')
    .option('--tail <lines>', 'only the last N lines')
    .action(async (pod: string, opts: { kubeconfig?: string; namespace?: string; container?: string; follow?: boolean; tail?: string }) => {
      const [{ clientContext }, { logs }] = await Promise.all([import('./context.ts'), import('./logs.ts')]);
      await logs(clientContext(opts), pod, { ...(opts.container ? { container: opts.container } : {}), follow: !!opts.follow, ...(opts.tail ? { tail: Number(opts.tail) } : {}) }, (chunk) => process.stdout.write(chunk));
    });

  program
    .command('download')
    .description("Fetch a Model's artifacts into the node cache, verify and scan them, and print the engine's model path (the Model's init container)")
    .requiredOption('--uri <uri>', 'source: s3://, gs://, az://, https://, huggingface:// (hf://), pvc://, file:// or /path')
    .option('--revision <rev>', 'Hugging Face revision: branch, tag or commit (default main)')
    .requiredOption('--cache-dir <dir>', 'node cache directory (entries are <name>-<hash>/)')
    .option('--safetensors-only', 'refuse pickle-based artifacts (PolicyViolation)')
    .option('--progress-file <path>', 'also write the JSON DownloadStatus here (replaced at most once a second)')
    .option('--concurrency <n>', 'files fetched at once', '4')
    .option('--stall-timeout <seconds>', 'abort an attempt after this long without a byte', '30')
    .addHelpText('after', '\nCredentials from the environment: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (AWS_ENDPOINT_URL), GOOGLE_APPLICATION_CREDENTIALS\n(the key JSON; STORAGE_EMULATOR_HOST), AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_ACCOUNT+AZURE_STORAGE_KEY, HF_TOKEN (HF_ENDPOINT).\nProgress on the pod annotation registry.matrixinfer.ai/download when POD_NAME and POD_NAMESPACE are set.\n')
    .action(async (opts: { uri: string; revision?: string; cacheDir: string; safetensorsOnly?: boolean; progressFile?: string; concurrency: string; stallTimeout: string }) => {
      const { runDownload } = await import('./download.ts');
      const positive = (flag: string, value: string) => {
        const n = Number(value);
        if (!(n > 0) || !Number.isFinite(n)) throw new Error(`${flag} must be a positive number, not "${value}"`);
        return n;
      };
      const code = await runDownload({ ...opts, concurrency: Math.floor(positive('--concurrency', opts.concurrency)), stallTimeout: positive('--stall-timeout', opts.stallTimeout) });
      flushCompileCache();
      process.exit(code); // client libraries may keep sockets open; the init container is done
    });

  await program.parseAsync(process.argv);
}

main()
  // Started (or done): write what was type-stripped to the compile cache now rather than at exit, so that
  // processes started after this one (more engines, restarts) skip loading the TypeScript stripper.
  .then(() => flushCompileCache())
  .catch((error: unknown) => {
    process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });

/** Where `up`'s components send their spans (the OTEL_* variables they inherit), or undefined when tracing is off. */
function tracesTo(): string | undefined {
  if (tracingConfig('up') === undefined) return undefined;
  return process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() || process.env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
}
