/**
 * The CRD and the TypeScript types are one source of truth: this test fails when a field, an enum or a
 * default is in one and not the other. FULL_SPEC is typed `DeepRequired<CacheClusterSpec>`, so the compiler
 * (tsc -p tsconfig.test.json) rejects it when an interface field is added or removed without updating it, and
 * this test then checks the schema has exactly its paths.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1/CustomResourceDefinition';
import { DEFAULTS, DEFAULT_VNODES, GROUP, KIND, PLURAL, SHORT_NAME, VERSION, withDefaults, type CacheClusterSpec, type CacheClusterStatus, type LabelSelector } from '../../../operator/src/api/types.js';

type DeepRequired<T> = T extends (infer U)[] ? DeepRequired<U>[] : T extends object ? { [K in keyof T]-?: DeepRequired<T[K]> } : T;

// Free-form (preserve-unknown-fields / additionalProperties) objects are leaves: their content is the user's.
const FREE_FORM = new Set(['podSecurityContext', 'securityContext', 'resources.requests', 'resources.limits', 'affinity', 'tolerations[]', 'nodeSelector', 'topologySpreadConstraints[]', 'monitoring.labels', 'env[].valueFrom', 'service.annotations', 'router.resources.requests', 'router.resources.limits', ...['clientSelector', 'clientNamespaceSelector', 'metricsScraper.namespaceSelector', 'metricsScraper.podSelector'].map((s) => `networkPolicy.${s}.matchLabels`)]);

const SELECTOR: DeepRequired<LabelSelector> = { matchLabels: {}, matchExpressions: [{ key: 'k', operator: 'In', values: ['v'] }] };

const FULL_SPEC: DeepRequired<CacheClusterSpec> = {
  replicas: 3,
  image: 'x',
  imagePullPolicy: 'IfNotPresent',
  threads: 2,
  memory: '1Gi',
  maxItemSize: '1m',
  flash: { size: '1Gi', storageClassName: 'x' },
  imagePullSecrets: [{ name: 'regcred' }],
  serviceAccountName: 'x',
  priorityClassName: 'x',
  podLabels: {},
  podAnnotations: {},
  podSecurityContext: {},
  securityContext: {},
  resources: { requests: {}, limits: {} },
  affinity: {},
  tolerations: [{}],
  nodeSelector: {},
  onePerNode: true,
  topologySpreadConstraints: [{}],
  podDisruptionBudget: { enabled: true, maxUnavailable: 1, minAvailable: 1 },
  monitoring: { enabled: true, interval: '30s', labels: {} },
  ring: { drainSeconds: 1, transitionSeconds: 1, vnodes: 40 },
  nodeLossRecovery: { enabled: true, gracePeriodSeconds: 1 },
  extraArgs: ['x'],
  env: [{ name: 'x', value: 'y', valueFrom: {} }],
  service: { type: 'ClusterIP', annotations: {} },
  auth: { secretName: 'x' },
  tls: { secretName: 'x', certManager: { issuerRef: { name: 'x', kind: 'ClusterIssuer', group: 'cert-manager.io' } }, clientAuth: true },
  networkPolicy: { enabled: true, clientSelector: SELECTOR, clientNamespaceSelector: SELECTOR, metricsScraper: { namespaceSelector: SELECTOR, podSelector: SELECTOR } },
  router: { enabled: true, replicas: 2, autoscale: false, image: 'x', imagePullPolicy: 'IfNotPresent', resources: { requests: {}, limits: {} } },
};

const FULL_STATUS: DeepRequired<CacheClusterStatus> = {
  observedGeneration: 1,
  replicas: 1,
  readyReplicas: 1,
  selector: 'a=b',
  ring: { version: 1, members: 1, draining: 0, previousVersion: 1 },
  conditions: [{ type: 'Ready', status: 'True', observedGeneration: 1, lastTransitionTime: 't', reason: 'r', message: 'm' }],
};

interface Schema {
  type?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  default?: unknown;
  enum?: unknown[];
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  additionalProperties?: unknown;
}

function valuePaths(v: unknown, prefix: string, out: Set<string>): void {
  if (FREE_FORM.has(prefix)) return;
  if (Array.isArray(v)) return valuePaths(v[0], `${prefix}[]`, out);
  if (v && typeof v === 'object') {
    for (const [k, child] of Object.entries(v)) {
      const p = prefix ? `${prefix}.${k}` : k;
      out.add(p);
      valuePaths(child, p, out);
    }
  }
}

function schemaPaths(s: Schema, prefix: string, out: Set<string>): void {
  if (FREE_FORM.has(prefix)) return;
  if (s.items) return schemaPaths(s.items, `${prefix}[]`, out);
  for (const [k, child] of Object.entries(s.properties ?? {})) {
    const p = prefix ? `${prefix}.${k}` : k;
    out.add(p);
    schemaPaths(child, p, out);
  }
}

function at(s: Schema, path: string): Schema {
  return path.split('.').reduce((acc, k) => acc.properties![k]!, s);
}

const crdText = readFileSync(new URL('../../../crds/cachecluster.yaml', import.meta.url), 'utf8');
const crd = parse(crdText);
const version = crd.spec.versions[0];
const root: Schema = version.schema.openAPIV3Schema;

describe('crds/cachecluster.yaml', () => {
  it('validates against apiextensions.k8s.io/v1 CustomResourceDefinition', () => {
    expect(() => new CustomResourceDefinition(crd).validate()).not.toThrow();
  });

  it('names the group, version, kind, plural and short name the operator uses', () => {
    expect(crd.metadata.name).toBe(`${PLURAL}.${GROUP}`);
    expect(crd.spec.group).toBe(GROUP);
    expect(version.name).toBe(VERSION);
    expect(crd.spec.names.kind).toBe(KIND);
    expect(crd.spec.names.shortNames).toEqual([SHORT_NAME]);
  });

  it('has status and scale subresources wired to spec.replicas / status.replicas / status.selector', () => {
    expect(version.subresources.status).toEqual({});
    expect(version.subresources.scale).toEqual({ specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.selector' });
  });

  it('prints replicas, ready, ring version and age', () => {
    const cols = version.additionalPrinterColumns.map((c: { name: string; jsonPath: string }) => `${c.name}=${c.jsonPath}`);
    expect(cols).toEqual(expect.arrayContaining(['Replicas=.spec.replicas', 'Ready=.status.readyReplicas', 'Ring=.status.ring.version', 'Age=.metadata.creationTimestamp']));
  });

  it('spec schema has exactly the fields of CacheClusterSpec', () => {
    const fromType = new Set<string>();
    valuePaths(FULL_SPEC, '', fromType);
    const fromSchema = new Set<string>();
    schemaPaths(root.properties!.spec!, '', fromSchema);
    expect([...fromSchema].sort()).toEqual([...fromType].sort());
  });

  it('status schema has exactly the fields of CacheClusterStatus', () => {
    const fromType = new Set<string>();
    valuePaths(FULL_STATUS, '', fromType);
    const fromSchema = new Set<string>();
    schemaPaths(root.properties!.status!, '', fromSchema);
    expect([...fromSchema].sort()).toEqual([...fromType].sort());
  });

  it('schema defaults are the operator defaults', () => {
    const spec = root.properties!.spec!;
    const expected: Record<string, unknown> = {
      replicas: DEFAULTS.replicas,
      image: DEFAULTS.image,
      threads: DEFAULTS.threads,
      memory: DEFAULTS.memory,
      maxItemSize: DEFAULTS.maxItemSize,
      'flash.size': DEFAULTS.flashSize,
      'podDisruptionBudget.enabled': true,
      'monitoring.enabled': DEFAULTS.monitoringEnabled,
      'monitoring.interval': DEFAULTS.monitoringInterval,
      'ring.drainSeconds': DEFAULTS.ringDrainSeconds,
      'ring.transitionSeconds': DEFAULTS.ringTransitionSeconds,
      'router.enabled': DEFAULTS.routerEnabled,
      'router.replicas': DEFAULTS.routerReplicas,
      'router.autoscale': DEFAULTS.routerAutoscale,
      'router.image': DEFAULTS.routerImage,
      'ring.vnodes': DEFAULT_VNODES,
      'nodeLossRecovery.gracePeriodSeconds': DEFAULTS.nodeLossGracePeriodSeconds,
      onePerNode: DEFAULTS.onePerNode,
      'service.type': DEFAULTS.serviceType,
      'networkPolicy.enabled': false,
    };
    const declared: Record<string, unknown> = {};
    const walk = (s: Schema, prefix: string) => {
      for (const [k, child] of Object.entries(s.properties ?? {})) {
        const p = prefix ? `${prefix}.${k}` : k;
        if (child.default !== undefined && child.type !== 'object') declared[p] = child.default;
        walk(child, p);
      }
    };
    walk(spec, '');
    expect(declared).toEqual(expected);
    // withDefaults() must produce the same values from an empty spec as the API server's defaulting would.
    const resolved = withDefaults({});
    expect(resolved.replicas).toBe(spec.properties!.replicas!.default);
    expect(resolved.flash.size).toBe(at(spec, 'flash.size').default);
    // No class named: the claim gets the cluster's default StorageClass.
    expect(resolved.flash.storageClassName).toBeUndefined();
    expect(at(spec, 'flash.storageClassName').default).toBeUndefined();
    expect(resolved.ring.drainSeconds).toBe(at(spec, 'ring.drainSeconds').default);
    expect(resolved.ring.transitionSeconds).toBe(at(spec, 'ring.transitionSeconds').default);
    expect(resolved.router).toEqual({ enabled: true, replicas: at(spec, 'router.replicas').default, autoscale: false, image: at(spec, 'router.image').default });
    expect(resolved.nodeLossRecovery.gracePeriodSeconds).toBe(at(spec, 'nodeLossRecovery.gracePeriodSeconds').default);
  });

  it('enums match the TypeScript unions', () => {
    const spec = root.properties!.spec!;
    expect(at(spec, 'service.type').enum).toEqual(['ClusterIP', 'NodePort', 'LoadBalancer']);
    expect(at(spec, 'imagePullPolicy').enum).toEqual(['Always', 'IfNotPresent', 'Never']);
    expect(at(spec, 'router.imagePullPolicy').enum).toEqual(['Always', 'IfNotPresent', 'Never']);
  });

  it('the Helm chart ships a byte-identical copy', () => {
    const chartCopy = readFileSync(new URL('../../../charts/cachalot-operator/crds/cachecluster.yaml', import.meta.url), 'utf8');
    expect(chartCopy).toBe(crdText);
  });
});
