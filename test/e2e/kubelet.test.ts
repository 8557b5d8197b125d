/**
 * The kubelet double's pure parts: loopback argument rewriting, $(VAR) expansion, volume path mapping, pod DNS.
 * (Its process handling is exercised by cluster.test.ts.)
 */
import { LoopbackNetwork, expandEnvRefs, mapPath, rewriteArgs } from './kubelet.js';
import { routerArgs } from '../../operator/src/builders/router.js';
import { serverArgs } from '../../operator/src/builders/statefulset.js';
import { withDefaults } from '../../operator/src/api/types.js';

describe('kubelet double', () => {
  const rw = { address: '127.9.0.3', port: 40001, metricsPort: 40002, mounts: { '/data': '/tmp/x/flash-web-0-uid' } };

  test('rewrites the operator-built server arguments for loopback', () => {
    const args = serverArgs(withDefaults({ memory: '16Mi', threads: 1, flash: { size: '64Mi' }, extraArgs: ['-c', '512'] }));
    expect(args).toEqual(['-p', '11211', '-m', '16', '-t', '1', '-I', '1m', '-o', 'ext_path=/data/flash:57m', '-c', '512']);
    expect(rewriteArgs(args, rw)).toEqual([
      '-m', '16', '-t', '1', '-I', '1m', '-o', 'ext_path=/tmp/x/flash-web-0-uid/flash:57m', '-c', '512',
      '-p', '40001', '-l', '127.9.0.3', '--metrics-port', '40002', '--metrics-listen', '127.9.0.3',
    ]);
  });

  test('replaces listen and metrics flags instead of duplicating them; maps every ext_path in a -o list', () => {
    const out = rewriteArgs(['-l', '0.0.0.0', '--metrics-port=9150', '--port=11211', '-o', 'idle_timeout=5,ext_path=/data/a:1g', '--extended=ext_path=/data:2g'], rw);
    expect(out).toEqual(['-o', 'idle_timeout=5,ext_path=/tmp/x/flash-web-0-uid/a:1g', '--extended=ext_path=/tmp/x/flash-web-0-uid:2g', '-p', '40001', '-l', '127.9.0.3', '--metrics-port', '40002', '--metrics-listen', '127.9.0.3']);
  });

  test('maps the auth file (-Y) and the -Z files through the secret volumes\' mounts', () => {
    const mounts = { ...rw.mounts, '/etc/cachalot/auth': '/tmp/x/pods/u/auth', '/etc/cachalot/tls': '/tmp/x/pods/u/tls' };
    const args = serverArgs(withDefaults({ memory: '16Mi', threads: 1, auth: { secretName: 'a' }, tls: { secretName: 't', clientAuth: true } }));
    const out = rewriteArgs(args, { ...rw, mounts });
    expect(out.slice(out.indexOf('-Y'), out.indexOf('-Y') + 2)).toEqual(['-Y', '/tmp/x/pods/u/auth/auth']);
    expect(out[out.indexOf('-Z') + 2]).toBe('ssl_chain_cert=/tmp/x/pods/u/tls/tls.crt,ssl_key=/tmp/x/pods/u/tls/tls.key,'
      + 'ssl_ca_cert=/tmp/x/pods/u/tls/ca.crt,ssl_verify_mode=2,ssl_refresh_on_change');
    expect(rewriteArgs(['--auth-file=/etc/cachalot/auth/auth'], { ...rw, mounts })[0]).toBe('--auth-file=/tmp/x/pods/u/auth/auth');
    // cachalot-sidecar's files (router pods), in both spellings.
    expect(rewriteArgs(['--tls-ca=/etc/cachalot/tls/ca.crt', '--tls-cert', '/etc/cachalot/tls/tls.crt', '--tls-key=/etc/cachalot/tls/tls.key'], { ...rw, mounts }).slice(0, 4))
      .toEqual(['--tls-ca=/tmp/x/pods/u/tls/ca.crt', '--tls-cert', '/tmp/x/pods/u/tls/tls.crt', '--tls-key=/tmp/x/pods/u/tls/tls.key']);
    expect(() => rewriteArgs(['-Y', '/elsewhere/auth'], rw)).toThrow(/on no volume mount/);
  });

  test('maps container paths through the longest matching mount and refuses unmounted ones', () => {
    expect(mapPath('/data/flash', { '/data': '/v1', '/data/flash': '/v2' })).toBe('/v2');
    expect(mapPath('/data/flashy', { '/data': '/v1', '/data/flash': '/v2' })).toBe('/v1/flashy');
    expect(() => mapPath('/var/lib', { '/data': '/v1' })).toThrow(/on no volume mount/);
  });

  test('resolves pod DNS names on the memcached port to the live endpoint of that pod only', () => {
    const net = new LoopbackNetwork();
    const a = net.allocateAddress();
    expect(a).toMatch(/^127\.0\.0\.\d+$/);
    expect(a).not.toBe('127.0.0.1');
    expect(net.allocateAddress()).not.toBe(a);
    net.register({ host: a, port: 4000, metricsPort: 4001, pod: 'web-0', namespace: 'prod', uid: 'u1' });
    expect(net.resolve('web-0.web-headless.prod.svc.cluster.local', 11211)).toEqual({ host: a, port: 4000 });
    expect(net.resolve('web-0.web-headless.prod.svc.cluster.local', 9150)).toBeUndefined();
    expect(net.resolve('web-0.web-headless.default.svc.cluster.local', 11211)).toBeUndefined();
    net.unregister('prod', 'web-0', 'other-incarnation');
    expect(net.resolve('web-0.web-headless.prod.svc.cluster.local', 11211)).toBeDefined();
    net.unregister('prod', 'web-0', 'u1');
    expect(net.resolve('web-0.web-headless.prod.svc.cluster.local', 11211)).toBeUndefined();
  });

  test('expands $(VAR) in container arguments as the kubelet does, and the router arguments for loopback', () => {
    const env = { POD_NAMESPACE: 'prod', EMPTY: '' };
    expect(expandEnvRefs(['$(POD_NAMESPACE)/x', '$(MISSING)', '$$(POD_NAMESPACE)', 'a$(EMPTY)b', '$$$(POD_NAMESPACE)', '$(', '$(POD_NAMESPACE'], env))
      .toEqual(['prod/x', '$(MISSING)', '$(POD_NAMESPACE)', 'ab', '$prod', '$(', '$(POD_NAMESPACE']);
    const cc = { apiVersion: 'cachalot.io/v1alpha1', kind: 'CacheCluster', metadata: { name: 'web', namespace: 'prod', uid: 'u' }, spec: {} } as any;
    expect(rewriteArgs(expandEnvRefs(routerArgs(cc), env), rw)).toEqual([
      '--ring-configmap=prod/web-ring', '-p', '40001', '-l', '127.9.0.3', '--metrics-port', '40002', '--metrics-listen', '127.9.0.3',
    ]);
  });
});
