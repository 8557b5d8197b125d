/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * Server pods pass Pod Security "restricted" as the operator builds them, for every shape of spec, and the
 * override fields replace the defaults. The checker (test/support/pss.ts) is shown to catch each control it
 * is relied on for, so a pass means something.
 */
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { API_VERSION, KIND, SERVER_UID, type CacheCluster, type CacheClusterSpec } from '../../../operator/src/api/types.js';
import { buildStatefulSet } from '../../../operator/src/builders/index.js';
import { podTemplateOf, restrictedViolations } from '../../support/pss.js';

function cluster(spec: CacheClusterSpec = {}): CacheCluster {
  return { apiVersion: API_VERSION, kind: KIND, metadata: { name: 'web', namespace: 'prod', uid: 'uid-1', generation: 1 }, spec };
}
const template = (spec: CacheClusterSpec = {}): any => podTemplateOf(buildStatefulSet(cluster(spec)));
const clone = <T>(o: T): T => JSON.parse(JSON.stringify(o)) as T;

const SPECS: Record<string, CacheClusterSpec> = {
  default: {},
  'every pod field': {
    imagePullSecrets: [{ name: 'regcred' }], serviceAccountName: 'cache', priorityClassName: 'high', podLabels: { team: 'web' }, podAnnotations: { 'x/y': 'z' },
    nodeSelector: { disk: 'ssd' }, tolerations: [{ key: 'dedicated', operator: 'Exists', effect: 'NoSchedule' }], onePerNode: false,
    topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'DoNotSchedule' }],
    resources: { requests: { cpu: '1', memory: '2Gi' }, limits: { memory: '2Gi' } }, env: [{ name: 'A', value: 'b' }],
  },
  'auth, TLS with clientAuth, NetworkPolicy': { auth: { secretName: 'web-auth' }, tls: { certManager: { issuerRef: { name: 'ca' } }, clientAuth: true }, networkPolicy: { enabled: true, clientSelector: { matchLabels: { a: 'b' } } } },
  'own podSecurityContext': { podSecurityContext: { runAsNonRoot: true, runAsUser: 2000, fsGroup: 2000, seccompProfile: { type: 'RuntimeDefault' } } },
};

describe('Pod Security "restricted"', () => {
  it.each(Object.entries(SPECS))('the server pod passes: %s', (_name, spec) => {
    expect(restrictedViolations(template(spec))).toEqual([]);
  });

  it('defaults: the image\'s uid/gid 1000, fsGroup with OnRootMismatch, seccomp RuntimeDefault, no capabilities, read-only root', () => {
    const t = template();
    expect(t.spec.securityContext).toEqual({ runAsNonRoot: true, runAsUser: SERVER_UID, runAsGroup: 1000, fsGroup: 1000, fsGroupChangePolicy: 'OnRootMismatch', seccompProfile: { type: 'RuntimeDefault' } });
    expect(t.spec.containers[0].securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    // The only writable path the server needs is the flash volume (its log files and lock live under -o ext_path).
    expect(t.spec.containers[0].volumeMounts).toEqual([{ name: 'flash', mountPath: '/data' }]);
    expect(t.spec.containers[0].args.join(' ')).toContain('ext_path=/data/flash:');
  });

  it('spec.podSecurityContext and spec.securityContext replace the defaults (and the checker sees what the user chose)', () => {
    const loose = template({ podSecurityContext: { runAsUser: 0 }, securityContext: { privileged: true } });
    expect(loose.spec.securityContext).toEqual({ runAsUser: 0 });
    expect(loose.spec.containers[0].securityContext).toEqual({ privileged: true });
    expect(() => new StatefulSet(buildStatefulSet(cluster({ podSecurityContext: { runAsUser: 0 } })) as any).validate()).not.toThrow();
    expect(restrictedViolations(loose)).toEqual(expect.arrayContaining([
      'spec.securityContext.runAsUser: must not be 0',
      'spec.containers[cachalot].securityContext.privileged: forbidden',
      'spec.containers[cachalot].securityContext.allowPrivilegeEscalation: must be false',
      'spec.containers[cachalot].securityContext.runAsNonRoot: must be true (here or in spec.securityContext)',
    ]));
  });

  it('the checker catches each restricted and baseline control it is used for', () => {
    const base = template();
    const broken: [string, (t: any) => void, string][] = [
      ['runAsNonRoot', (t) => delete t.spec.securityContext.runAsNonRoot, 'runAsNonRoot: must be true'],
      ['seccomp', (t) => delete t.spec.securityContext.seccompProfile, 'seccompProfile.type: must be RuntimeDefault or Localhost'],
      ['seccomp Unconfined in the container', (t) => (t.spec.containers[0].securityContext.seccompProfile = { type: 'Unconfined' }), 'seccompProfile.type: must be RuntimeDefault'],
      ['capabilities drop', (t) => (t.spec.containers[0].securityContext.capabilities = { drop: ['NET_RAW'] }), 'capabilities.drop: must include ALL'],
      ['capabilities add', (t) => (t.spec.containers[0].securityContext.capabilities.add = ['SYS_ADMIN']), 'SYS_ADMIN is not allowed'],
      ['privilege escalation', (t) => delete t.spec.containers[0].securityContext.allowPrivilegeEscalation, 'allowPrivilegeEscalation: must be false'],
      ['hostPath', (t) => (t.spec.volumes = [{ name: 'h', hostPath: { path: '/' } }]), 'hostPath: forbidden'],
      ['volume type', (t) => (t.spec.volumes = [{ name: 'n', nfs: { server: 'x', path: '/' } }]), 'nfs: volume type not allowed'],
      ['hostNetwork', (t) => (t.spec.hostNetwork = true), 'spec.hostNetwork'],
      ['hostPort', (t) => (t.spec.containers[0].ports[0].hostPort = 11211), 'hostPort: forbidden'],
      ['sysctl', (t) => (t.spec.securityContext.sysctls = [{ name: 'kernel.msgmax', value: '1' }]), 'not a safe sysctl'],
      ['SELinux user', (t) => (t.spec.securityContext.seLinuxOptions = { user: 'system_u' }), 'seLinuxOptions.user'],
      ['procMount', (t) => (t.spec.containers[0].securityContext.procMount = 'Unmasked'), 'procMount: must be Default'],
      ['init container', (t) => (t.spec.initContainers = [{ name: 'init', image: 'x' }]), 'initContainers[init]'],
    ];
    for (const [what, breakIt, expected] of broken) {
      const t = clone(base);
      breakIt(t);
      const v = restrictedViolations(t);
      expect([what, v.some((m) => m.includes(expected))]).toEqual([what, true]);
    }
  });
});

describe('pod fields from the CacheCluster', () => {
  it('imagePullSecrets, serviceAccountName, priorityClassName, labels and annotations reach the pod template', () => {
    const sts: any = buildStatefulSet(cluster(SPECS['every pod field']));
    expect(() => new StatefulSet(sts).validate()).not.toThrow();
    const t = sts.spec.template;
    expect(t.spec).toMatchObject({ imagePullSecrets: [{ name: 'regcred' }], serviceAccountName: 'cache', priorityClassName: 'high', nodeSelector: { disk: 'ssd' } });
    expect(t.metadata.annotations).toEqual({ 'x/y': 'z' });
    expect(t.metadata.labels.team).toBe('web');
    expect(t.spec.containers[0].resources).toEqual({ requests: { cpu: '1', memory: '2Gi' }, limits: { memory: '2Gi' } });
  });

  it('extra pod labels cannot take over the selector labels', () => {
    const t = template({ podLabels: { 'app.kubernetes.io/instance': 'other', team: 'web' } });
    expect(t.metadata.labels['app.kubernetes.io/instance']).toBe('web');
    expect(t.metadata.labels.team).toBe('web');
  });

  it('none of them appear when unset', () => {
    const t = template();
    for (const f of ['imagePullSecrets', 'priorityClassName', 'nodeSelector', 'tolerations']) expect(t.spec).not.toHaveProperty(f);
    // The servers' own account, which reads their ring (builders/serveraccess.ts).
    expect(t.spec.serviceAccountName).toBe('web-server');
    expect(t.metadata).not.toHaveProperty('annotations');
  });
});
