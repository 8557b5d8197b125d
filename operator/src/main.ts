/**
 * cachalot-operator entry point.
 *
 *   cachalot-operator [--kubeconfig FILE] [--namespace NS] [--metrics-bind-address HOST:PORT]
 *                     [--leader-elect=true|false] [--leader-election-namespace NS] [--lease-name NAME]
 *                     [--cluster-reads=true|false]
 *   cachalot-operator render -f FILE      (prints the objects it would create, no cluster needed)
 *
 * Without --kubeconfig: in-cluster config (service account), else $KUBECONFIG / ~/.kube/config.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { existsSync, readFileSync } from 'node:fs';
import { createLogger } from './log.js';
import { parseArgs, USAGE, type CliOptions } from './cli.js';
import { Operator } from './operator.js';
import { parseRenderArgs, renderYaml } from './render.js';

const SA_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

function render(argv: string[]): void {
  try {
    const { file } = parseRenderArgs(argv);
    const text = readFileSync(file === '-' ? 0 : file, 'utf8');
    process.stdout.write(renderYaml(text, file === '-' ? 'stdin' : file));
  } catch (err) {
    process.stderr.write(`cachalot-operator render: ${(err as Error).message}\n`);
    process.exit(1);
  }
}

async function main(): Promise<void> {
  if (process.argv[2] === 'render') return render(process.argv.slice(3));
  const log = createLogger();
  let cli: CliOptions;
  try {
    cli = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  }
  if (cli.help) {
    process.stdout.write(USAGE + '\n');
    process.exit(0);
  }
  const kc = new KubeConfig();
  if (cli.kubeconfig) kc.loadFromFile(cli.kubeconfig);
  else kc.loadFromDefault();
  const leNamespace = cli.leaderElectionNamespace ?? process.env.POD_NAMESPACE ?? (existsSync(SA_NAMESPACE_FILE) ? readFileSync(SA_NAMESPACE_FILE, 'utf8').trim() : kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default');
  const operator = new Operator(kc, {
    ...(cli.namespace ? { namespace: cli.namespace } : {}),
    leaderElection: cli.leaderElect ? { namespace: leNamespace, name: cli.leaseName, ...(process.env.POD_NAME ? { identity: process.env.POD_NAME } : {}) } : false,
    metricsPort: cli.metricsPort,
    metricsHost: cli.metricsHost,
    controller: { clusterReads: cli.clusterReads },
    log,
    defaultMetrics: true,
    // Exiting on lost leadership is client-go's practice: the restart guarantees no work from the old term.
    onLostLeadership: () => {
      log.error('lost leadership; exiting');
      process.exit(1);
    },
  });
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    operator.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err: String(err) }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  await operator.start();
  log.info({ server: kc.getCurrentCluster()?.server, metrics: operator.metricsUrl, leaderElection: cli.leaderElect }, 'cachalot-operator running');
}

main().catch((err: unknown) => {
  process.stderr.write(`cachalot-operator: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
