/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * Auth, TLS and the NetworkPolicy as the pure builders make them: memcached's own flags, Secrets mounted so that
 * rotations reach the files without a restart, the Certificate's names covering every address the ring and the
 * Services publish, and a NetworkPolicy valid against the published Kubernetes schema.
 */
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { API_VERSION, KIND, MEMCACHED_PORT, METRICS_PORT, withDefaults, type CacheCluster, type CacheClusterSpec } from '../../../operator/src/api/types.js';
import { buildCertificate, buildNetworkPolicy, buildRouterNetworkPolicy, buildStatefulSet, routerSelectorLabels, securityArgs, serverArgs } from '../../../operator/src/builders/index.js';
import { memberHost } from '../../../operator/src/ring.js';
import { podTemplateOf, restrictedViolations } from '../../support/pss.js';

function cluster(spec: CacheClusterSpec = {}, name = 'web', namespace = 'prod'): CacheCluster {
  return { apiVersion: API_VERSION, kind: KIND, metadata: { name, namespace, uid: 'uid-1', generation: 1 }, spec };
}
const sts = (spec: CacheClusterSpec): any => buildStatefulSet(cluster(spec));
const container = (spec: CacheClusterSpec): any => sts(spec).spec.template.spec.containers[0];

/** TLS's wildcard rule (RFC 6125 6.4.3 as browsers and OpenSSL apply it): `*` stands for exactly one label. */
function covers(names: string[], host: string): boolean {
  return names.some((n) => n === host || (n.startsWith('*.') && host.slice(host.indexOf('.') + 1) === n.slice(2) && host.indexOf('.') > 0));
}

const ISSUER = { name: 'cluster-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' };

describe('memcached flags for auth and TLS', () => {
  it('none without spec.auth or spec.tls', () => {
    expect(securityArgs(withDefaults({}))).toEqual([]);
    expect(serverArgs(withDefaults({})).join(' ')).not.toMatch(/-Y|-Z|ssl_/);
  });

  it('-Y names the auth Secret\'s `auth` key; -Z with the chain and key, reloaded when they change; clientAuth adds the CA and ssl_verify_mode=2 (require)', () => {
    expect(securityArgs(withDefaults({ auth: { secretName: 'web-auth' } }))).toEqual(['-Y', '/etc/cachalot/auth/auth']);
    expect(securityArgs(withDefaults({ tls: { secretName: 'web-cert' } }))).toEqual(['-Z', '-o', 'ssl_chain_cert=/etc/cachalot/tls/tls.crt,ssl_key=/etc/cachalot/tls/tls.key,ssl_refresh_on_change']);
    expect(securityArgs(withDefaults({ tls: { certManager: { issuerRef: ISSUER }, clientAuth: true } }))).toEqual([
      '-Z', '-o', 'ssl_chain_cert=/etc/cachalot/tls/tls.crt,ssl_key=/etc/cachalot/tls/tls.key,ssl_ca_cert=/etc/cachalot/tls/ca.crt,ssl_verify_mode=2,ssl_refresh_on_change',
    ]);
  });

  it('come before extraArgs, so a user flag given later still wins as memcached\'s last-flag-wins parsing has it', () => {
    const args: string[] = container({ auth: { secretName: 'a' }, extraArgs: ['-c', '10'] }).args;
    expect(args.indexOf('-Y')).toBeLessThan(args.indexOf('-c'));
  });
});

describe('Secrets in the server pod', () => {
  const spec: CacheClusterSpec = { auth: { secretName: 'web-auth' }, tls: { secretName: 'web-cert', clientAuth: true } };

  it('whole secret volumes, read-only, no subPath (the kubelet updates them in place), readable by the server\'s fsGroup only', () => {
    const s = sts(spec);
    expect(() => new StatefulSet(s).validate()).not.toThrow();
    expect(s.spec.template.spec.volumes).toEqual([
      { name: 'auth', secret: { secretName: 'web-auth', defaultMode: 0o440 } },
      { name: 'tls', secret: { secretName: 'web-cert', defaultMode: 0o440 } },
    ]);
    const mounts = container(spec).volumeMounts;
    expect(mounts).toEqual([
      { name: 'flash', mountPath: '/data' },
      { name: 'auth', mountPath: '/etc/cachalot/auth', readOnly: true },
      { name: 'tls', mountPath: '/etc/cachalot/tls', readOnly: true },
    ]);
    for (const m of mounts) expect(m).not.toHaveProperty('subPath');
    expect(s.spec.template.spec.securityContext.fsGroup).toBe(1000);
  });

  it('the certManager Secret is <name>-tls, the Certificate\'s own', () => {
    const cc = cluster({ tls: { certManager: { issuerRef: ISSUER } } });
    const vol = (buildStatefulSet(cc) as any).spec.template.spec.volumes;
    expect(vol).toEqual([{ name: 'tls', secret: { secretName: 'web-tls', defaultMode: 0o440 } }]);
    expect(buildCertificate(cc)!.spec.secretName).toBe('web-tls');
  });

  it('the pod template depends on Secret names only, never contents: a rotation cannot roll the servers', () => {
    // Same spec -> byte-identical template; and nothing in it (annotations included) is derived from Secret data,
    // which the builder never sees.
    const a = sts(spec).spec.template;
    expect(a).toEqual(sts(spec).spec.template);
    expect(a.metadata).not.toHaveProperty('annotations');
    expect(JSON.stringify(a)).not.toMatch(/checksum|hash/i);
  });

  it('no volumes key when neither is set (the template of existing clusters does not change)', () => {
    expect(sts({}).spec.template.spec).not.toHaveProperty('volumes');
  });

  it('Pod Security "restricted" still holds with both Secrets mounted', () => {
    expect(restrictedViolations(podTemplateOf(sts(spec))!)).toEqual([]);
  });
});

describe('cert-manager Certificate', () => {
  it('none unless spec.tls.certManager', () => {
    expect(buildCertificate(cluster())).toBeUndefined();
    expect(buildCertificate(cluster({ tls: { secretName: 'x' } }))).toBeUndefined();
  });

  it('names every ring member, the headless Service and the client Service; owned by the CacheCluster', () => {
    const cert: any = buildCertificate(cluster({ replicas: 5, tls: { certManager: { issuerRef: ISSUER } } }));
    expect(cert).toMatchObject({ apiVersion: 'cert-manager.io/v1', kind: 'Certificate', metadata: { name: 'web-tls', namespace: 'prod' } });
    expect(cert.metadata.ownerReferences[0]).toMatchObject({ kind: 'CacheCluster', uid: 'uid-1', controller: true });
    expect(cert.spec.issuerRef).toEqual(ISSUER);
    expect(cert.spec.usages).toContain('server auth');
    expect(cert.spec.privateKey).toEqual({ rotationPolicy: 'Always' });
    const names: string[] = cert.spec.dnsNames;
    // Any ordinal, so a scale-up needs no new certificate.
    for (const i of [0, 4, 999]) expect([i, covers(names, memberHost('web', 'prod', i))]).toEqual([i, true]);
    for (const h of ['web', 'web.prod', 'web.prod.svc', 'web.prod.svc.cluster.local', 'web-headless.prod.svc.cluster.local']) expect([h, covers(names, h)]).toEqual([h, true]);
    // Not another cluster's members, nor this one's name in another namespace.
    expect(covers(names, memberHost('api', 'prod', 0))).toBe(false);
    expect(covers(names, memberHost('web', 'dev', 0))).toBe(false);
    expect(new Set(names).size).toBe(names.length);
  });

  it('with clientAuth it is also a client certificate: the router presents it to the servers', () => {
    const usages = (clientAuth: boolean): string[] => (buildCertificate(cluster({ tls: { certManager: { issuerRef: ISSUER }, clientAuth } })) as any).spec.usages;
    expect(usages(true)).toEqual(['server auth', 'client auth', 'digital signature', 'key encipherment']);
    expect(usages(false)).not.toContain('client auth');
  });

  it('the scale of the cluster does not change the Certificate', () => {
    const at = (replicas: number) => buildCertificate(cluster({ replicas, tls: { certManager: { issuerRef: ISSUER } } }));
    expect(at(1)).toEqual(at(50));
  });
});

describe('NetworkPolicy', () => {
  const clients = { matchLabels: { 'cachalot.io/client': 'web' } };

  it('none unless spec.networkPolicy.enabled', () => {
    expect(buildNetworkPolicy(cluster())).toBeUndefined();
    expect(buildNetworkPolicy(cluster({ networkPolicy: { enabled: false, clientSelector: clients } }))).toBeUndefined();
  });

  it('selects this cluster\'s servers and admits the client pods to the memcached port only', () => {
    const np: any = buildNetworkPolicy(cluster({ networkPolicy: { enabled: true, clientSelector: clients } }));
    expect(() => new NetworkPolicy(np).validate()).not.toThrow();
    expect(np.metadata).toMatchObject({ name: 'web', namespace: 'prod' });
    expect(np.spec).toEqual({
      podSelector: { matchLabels: { 'app.kubernetes.io/name': 'cachalot', 'app.kubernetes.io/instance': 'web' } },
      policyTypes: ['Ingress'],
      // One rule: nothing reaches the metrics port (the node's probes always do), and the servers' own labels
      // are not a client, so members do not reach each other. The router pods are the servers' clients too.
      ingress: [{ from: [{ podSelector: clients }, { podSelector: { matchLabels: routerSelectorLabels(cluster()) } }], ports: [{ protocol: 'TCP', port: MEMCACHED_PORT }] }],
    });
    const direct: any = buildNetworkPolicy(cluster({ router: { enabled: false }, networkPolicy: { enabled: true, clientSelector: clients } }));
    expect(direct.spec.ingress[0].from).toEqual([{ podSelector: clients }]);
  });

  it('the router pods get the same clients and scraper, so the client Service is no way around the policy', () => {
    const scraper = { podSelector: { matchLabels: { app: 'prometheus' } } };
    expect(buildRouterNetworkPolicy(cluster())).toBeUndefined();
    expect(buildRouterNetworkPolicy(cluster({ router: { enabled: false }, networkPolicy: { enabled: true, clientSelector: clients } }))).toBeUndefined();
    const np: any = buildRouterNetworkPolicy(cluster({ networkPolicy: { enabled: true, clientSelector: clients, metricsScraper: scraper } }));
    expect(() => new NetworkPolicy(np).validate()).not.toThrow();
    expect(np.metadata).toMatchObject({ name: 'web-router', namespace: 'prod' });
    expect(np.spec.podSelector).toEqual({ matchLabels: routerSelectorLabels(cluster()) });
    expect(np.spec.ingress).toEqual([
      { from: [{ podSelector: clients }], ports: [{ protocol: 'TCP', port: MEMCACHED_PORT }] },
      { from: [scraper], ports: [{ protocol: 'TCP', port: 9151 }] },
    ]);
  });

  it('clientNamespaceSelector widens the clients to other namespaces; metricsScraper gets the metrics port only', () => {
    const scraper = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } }, podSelector: { matchExpressions: [{ key: 'app.kubernetes.io/name', operator: 'In' as const, values: ['prometheus'] }] } };
    const np: any = buildNetworkPolicy(cluster({ networkPolicy: { enabled: true, clientSelector: clients, clientNamespaceSelector: { matchLabels: { team: 'web' } }, metricsScraper: scraper } }));
    expect(() => new NetworkPolicy(np).validate()).not.toThrow();
    expect(np.spec.ingress).toEqual([
      { from: [{ podSelector: clients, namespaceSelector: { matchLabels: { team: 'web' } } }, { podSelector: { matchLabels: routerSelectorLabels(cluster()) } }], ports: [{ protocol: 'TCP', port: MEMCACHED_PORT }] },
      { from: [scraper], ports: [{ protocol: 'TCP', port: METRICS_PORT }] },
    ]);
  });

  it('the schema check is live: a bad port type is refused', () => {
    const np: any = buildNetworkPolicy(cluster({ networkPolicy: { enabled: true, clientSelector: clients } }));
    np.spec.ingress[0].ports[0].protocol = 7;
    expect(() => new NetworkPolicy(np).validate()).toThrow();
  });

  it('enabled without clientSelector is refused by name (the CRD refuses it first)', () => {
    expect(() => buildNetworkPolicy(cluster({ networkPolicy: { enabled: true } }))).toThrow('spec.networkPolicy.enabled needs spec.networkPolicy.clientSelector');
  });
});
