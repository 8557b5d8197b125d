/** Command-line flags of cachalot-operator, validated with messages that name the flag (STYLE rule 7). */
import { DEFAULT_LEASE_NAME } from './leader.js';

export const USAGE = `usage: cachalot-operator [--kubeconfig FILE] [--namespace NS] [--metrics-bind-address HOST:PORT]
                         [--leader-elect=true|false] [--leader-election-namespace NS] [--lease-name NAME]
                         [--cluster-reads=true|false]
       cachalot-operator render -f FILE`;

export interface CliOptions {
  kubeconfig?: string;
  namespace?: string;
  metricsHost: string;
  metricsPort: number;
  leaderElect: boolean;
  leaderElectionNamespace?: string;
  leaseName: string;
  /** Read cluster-scoped objects: Nodes and PersistentVolumes (node-loss detection) and CRDs (whether the
   * ServiceMonitor kind exists; without, by listing ServiceMonitors in --namespace). A namespace-scoped
   * install has no ClusterRole, so it turns this off. */
  clusterReads: boolean;
  help?: boolean;
}

export function parseArgs(argv: string[]): CliOptions {
  const out: CliOptions = { metricsHost: '0.0.0.0', metricsPort: 8080, leaderElect: true, leaseName: DEFAULT_LEASE_NAME, clusterReads: true };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '') throw new Error(`${flag} needs a value\n${USAGE}`);
      return v;
    };
    switch (flag) {
      case '--kubeconfig':
        out.kubeconfig = value();
        break;
      case '--namespace':
        out.namespace = value();
        break;
      case '--metrics-bind-address': {
        const v = value();
        const idx = v.lastIndexOf(':');
        const port = Number(v.slice(idx + 1));
        if (idx < 0 || !Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--metrics-bind-address must be HOST:PORT with PORT in 0..65535, got "${v}"`);
        out.metricsHost = v.slice(0, idx) || '0.0.0.0';
        out.metricsPort = port;
        break;
      }
      case '--leader-elect': {
        const v = inline ?? 'true';
        if (v !== 'true' && v !== 'false') throw new Error(`--leader-elect must be true or false, got "${v}"`);
        out.leaderElect = v === 'true';
        break;
      }
      case '--cluster-reads': {
        const v = inline ?? 'true';
        if (v !== 'true' && v !== 'false') throw new Error(`--cluster-reads must be true or false, got "${v}"`);
        out.clusterReads = v === 'true';
        break;
      }
      case '--leader-election-namespace':
        out.leaderElectionNamespace = value();
        break;
      case '--lease-name':
        out.leaseName = value();
        break;
      case '-h':
      case '--help':
        out.help = true;
        break;
      default:
        throw new Error(`unknown flag ${flag}\n${USAGE}`);
    }
  }
  return out;
}

