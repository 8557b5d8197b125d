import { parseArgs } from '../../../operator/src/cli.js';

describe('cachalot-operator flags', () => {
  it('defaults: leader election on, metrics on :8080, in-cluster/default kubeconfig', () => {
    expect(parseArgs([])).toEqual({ metricsHost: '0.0.0.0', metricsPort: 8080, leaderElect: true, leaseName: 'cachalot-operator-leader', clusterReads: true });
  });

  it('takes --flag value and --flag=value', () => {
    expect(parseArgs(['--kubeconfig', '/tmp/kc', '--namespace=cache', '--metrics-bind-address', '127.0.0.1:9000', '--leader-elect=false', '--lease-name', 'x', '--cluster-reads=false'])).toEqual({
      kubeconfig: '/tmp/kc', namespace: 'cache', metricsHost: '127.0.0.1', metricsPort: 9000, leaderElect: false, leaseName: 'x', clusterReads: false,
    });
  });

  it('rejects bad values naming the flag', () => {
    expect(() => parseArgs(['--metrics-bind-address', 'nope'])).toThrow(/--metrics-bind-address must be HOST:PORT/);
    expect(() => parseArgs(['--leader-elect=maybe'])).toThrow(/--leader-elect must be true or false/);
    expect(() => parseArgs(['--kubeconfig'])).toThrow(/--kubeconfig needs a value/);
    expect(() => parseArgs(['--frobnicate'])).toThrow(/unknown flag --frobnicate/);
    expect(() => parseArgs(['--cluster-reads=no'])).toThrow(/--cluster-reads must be true or false/);
  });
});
