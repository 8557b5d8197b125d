import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { Service } from 'kubernetes-models/v1/Service';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { API_VERSION, KIND, METRICS_PORT, type CacheCluster, type CacheClusterSpec } from '../../../operator/src/api/types.js';
import {
  buildClientService,
  buildHeadlessService,
  buildPodDisruptionBudget,
  buildRingConfigMap,
  buildServiceMonitor,
  buildStatefulSet,
  derivedResources,
  serverArgs,
  terminationGraceSeconds,
} from '../../../operator/src/builders/index.js';
import { planRing } from '../../../operator/src/ring.js';
import { withDefaults } from '../../../operator/src/api/types.js';

function cluster(spec: CacheClusterSpec = {}, name = 'web', namespace = 'prod'): CacheCluster {
  return { apiVersion: API_VERSION, kind: KIND, metadata: { name, namespace, uid: 'uid-1', generation: 1 }, spec };
}

/* eslint-disable @typescript-eslint/no-explicit-any */
const anyOf = (x: unknown) => x as any;

describe('builders', () => {
  it('the schema validation is live: a bad StatefulSet is rejected', () => {
    const sts = anyOf(buildStatefulSet(cluster()));
    sts.spec.replicas = 'three';
    expect(() => new StatefulSet(sts).validate()).toThrow();
  });

  it('StatefulSet validates and carries volumeClaimTemplates, /readyz on 9150, preStop and grace period', () => {
    const sts = anyOf(buildStatefulSet(cluster({ replicas: 4, memory: '2Gi', flash: { size: '100Gi', storageClassName: 'fast-local' } })));
    expect(() => new StatefulSet(sts).validate()).not.toThrow();
    expect(sts.metadata).toMatchObject({ name: 'web', namespace: 'prod' });
    expect(sts.metadata.ownerReferences).toEqual([{ apiVersion: 'cachalot.io/v1alpha1', kind: 'CacheCluster', name: 'web', uid: 'uid-1', controller: true, blockOwnerDeletion: true }]);
    expect(sts.spec.replicas).toBe(4);
    expect(sts.spec.serviceName).toBe('web-headless');
    const vct = sts.spec.volumeClaimTemplates[0];
    expect(vct.metadata.name).toBe('flash');
    expect(vct.spec).toMatchObject({ storageClassName: 'fast-local', accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '100Gi' } } });
    const c = sts.spec.template.spec.containers[0];
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
    expect(c.ports).toContainEqual({ name: 'metrics', containerPort: METRICS_PORT, protocol: 'TCP' });
    // An exec of the image's sleep, not the `sleep` action (Kubernetes >= 1.30): the chart supports 1.27.
    expect(c.lifecycle.preStop).toEqual({ exec: { command: ['/bin/sleep', '5'] } });
    // 2 GiB at 100 MiB/s is 21 s of flushing on top of the 35 s base.
    expect(sts.spec.template.spec.terminationGracePeriodSeconds).toBe(35 + 21);
    expect(c.volumeMounts).toEqual([{ name: 'flash', mountPath: '/data' }]);
    expect(sts.spec.template.metadata.labels).toMatchObject(sts.spec.selector.matchLabels);
  });

  it('server args follow memcached flags; extra args come last', () => {
    expect(serverArgs(withDefaults({ memory: '512Mi', threads: 4, maxItemSize: '8m', flash: { size: '10Gi' }, extraArgs: ['-c', '4096'] }))).toEqual([
      '-p', '11211', '-m', '512', '-t', '4', '-I', '8m', '-o', 'ext_path=/data/flash:9216m', '-c', '4096',
    ]);
  });

  it('resources are derived from memory and threads when absent, taken verbatim when given', () => {
    expect(derivedResources(withDefaults({ memory: '1Gi', threads: 3 }))).toEqual({ requests: { cpu: '3', memory: '1352Mi' }, limits: { memory: '1352Mi' } });
    const given = { requests: { cpu: '1', memory: '3Gi' }, limits: { memory: '3Gi' } };
    expect(anyOf(buildStatefulSet(cluster({ resources: given }))).spec.template.spec.containers[0].resources).toEqual(given);
    expect(terminationGraceSeconds(withDefaults({ memory: '100Mi' }))).toBe(36);
  });

  it('one server per node by default (required anti-affinity, added to the user\'s); onePerNode: false spreads softly', () => {
    const selector = { matchLabels: { 'app.kubernetes.io/name': 'cachalot', 'app.kubernetes.io/instance': 'web' } };
    const term = { labelSelector: selector, topologyKey: 'kubernetes.io/hostname' };
    const def = anyOf(buildStatefulSet(cluster())).spec.template.spec;
    expect(def.affinity).toEqual({ podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term] } });
    expect(def.topologySpreadConstraints).toBeUndefined();
    const userTerm = { labelSelector: { matchLabels: { app: 'db' } }, topologyKey: 'kubernetes.io/hostname' };
    const nodeAffinity = { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'disk', operator: 'In', values: ['ssd'] }] }] } };
    const merged = anyOf(buildStatefulSet(cluster({ affinity: { nodeAffinity, podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [userTerm] } } })));
    expect(() => new StatefulSet(merged).validate()).not.toThrow();
    expect(merged.spec.template.spec.affinity).toEqual({ nodeAffinity, podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [userTerm, term] } });
    const off = anyOf(buildStatefulSet(cluster({ onePerNode: false }))).spec.template.spec;
    expect(off.affinity).toBeUndefined();
    expect(off.topologySpreadConstraints).toEqual([{ maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: selector }]);
  });

  it('user scheduling fields are passed to the pod', () => {
    const tsc = [{ maxSkew: 2, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'DoNotSchedule' }];
    const tolerations = [{ key: 'cache', operator: 'Exists', effect: 'NoSchedule' }];
    const custom = anyOf(buildStatefulSet(cluster({ topologySpreadConstraints: tsc, tolerations, nodeSelector: { disk: 'ssd' }, env: [{ name: 'A', value: 'b' }] })));
    expect(() => new StatefulSet(custom).validate()).not.toThrow();
    expect(custom.spec.template.spec.topologySpreadConstraints).toEqual(tsc);
    expect(custom.spec.template.spec.tolerations).toEqual(tolerations);
    expect(custom.spec.template.spec.nodeSelector).toEqual({ disk: 'ssd' });
    expect(custom.spec.template.spec.containers[0].env).toContainEqual({ name: 'A', value: 'b' });
  });

  it('headless and client Services validate; headless publishes not-ready addresses', () => {
    const h = anyOf(buildHeadlessService(cluster()));
    const c = anyOf(buildClientService(cluster({ service: { type: 'LoadBalancer', annotations: { 'x/y': 'z' } } })));
    expect(() => new Service(h).validate()).not.toThrow();
    expect(() => new Service(c).validate()).not.toThrow();
    expect(h.metadata.name).toBe('web-headless');
    expect(h.spec).toMatchObject({ clusterIP: 'None', publishNotReadyAddresses: true });
    expect(c.metadata.name).toBe('web');
    expect(c.metadata.annotations).toEqual({ 'x/y': 'z' });
    expect(c.spec.type).toBe('LoadBalancer');
    expect(c.spec.ports).toEqual([{ name: 'memcached', port: 11211, targetPort: 'memcached', protocol: 'TCP' }]);
  });

  it('ring ConfigMap is <name>-ring with ring.json exactly as DESIGN.md shows it', () => {
    const plan = planRing({ cluster: 'web', namespace: 'prod', replicas: 1, vnodes: 40, drainSeconds: 60, transitionSeconds: 0, drainingSince: {}, now: new Date(0) });
    const cm = anyOf(buildRingConfigMap(cluster(), { ...plan.ring, version: 7 }, {}));
    expect(() => new ConfigMap(cm).validate()).not.toThrow();
    expect(cm.metadata.name).toBe('web-ring');
    expect(JSON.parse(cm.data['ring.json'])).toEqual({
      cluster: 'web', namespace: 'prod', version: 7, hash: 'ketama-md5', vnodes: 40,
      members: [{ name: 'web-0', host: 'web-0.web-headless.prod.svc.cluster.local', port: 11211, weight: 1, state: 'active' }],
    });
    // Key order as in DESIGN.md, so the bytes are stable between reconciles.
    expect(Object.keys(JSON.parse(cm.data['ring.json']))).toEqual(['cluster', 'namespace', 'version', 'hash', 'vnodes', 'members']);
  });

  it('PDB validates, defaults to maxUnavailable 1, honours minAvailable, and is absent when disabled', () => {
    const p = anyOf(buildPodDisruptionBudget(cluster()));
    expect(() => new PodDisruptionBudget(p).validate()).not.toThrow();
    expect(p.spec.maxUnavailable).toBe(1);
    expect(anyOf(buildPodDisruptionBudget(cluster({ podDisruptionBudget: { minAvailable: '50%' } }))).spec).toEqual({
      minAvailable: '50%', selector: { matchLabels: { 'app.kubernetes.io/name': 'cachalot', 'app.kubernetes.io/instance': 'web' } },
    });
    expect(buildPodDisruptionBudget(cluster({ podDisruptionBudget: { enabled: false } }))).toBeUndefined();
  });

  it('ServiceMonitor selects the headless Service metrics port at the configured interval', () => {
    // prometheus-operator's schema is not in kubernetes-models; the shape is asserted field by field instead.
    const sm = anyOf(buildServiceMonitor(cluster({ monitoring: { interval: '15s', labels: { release: 'prom' } } })));
    expect(sm.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(sm.metadata.labels.release).toBe('prom');
    expect(sm.spec.endpoints).toEqual([{ port: 'metrics', path: '/metrics', interval: '15s' }]);
    expect(buildHeadlessService(cluster()).metadata.labels).toMatchObject(sm.spec.selector.matchLabels);
    expect(buildServiceMonitor(cluster({ monitoring: { enabled: false } }))).toBeUndefined();
  });

  it('refuses to build children for an object without a uid (owner references need one)', () => {
    const cc = cluster();
    delete cc.metadata.uid;
    expect(() => buildStatefulSet(cc)).toThrow(/no uid/);
  });
});
