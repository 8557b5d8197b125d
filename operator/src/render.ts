/**
 * `cachalot-operator render -f FILE`: every object the operator would create for the CacheClusters in FILE,
 * computed by the same pure builders the reconciler applies, without a cluster (for review and GitOps diffs).
 *
 * What a cluster would add and a file cannot know: the CacheCluster's uid (the owner references carry the
 * file's metadata.uid when it has one, as `kubectl get cc -o yaml` output does, else PLACEHOLDER_UID), and the
 * ring history (a first ring, version 1, with no draining members and no `previous`). The client Service is
 * shown as it is once a router pod is available (selecting the router). The ServiceMonitor is listed when
 * monitoring is enabled; the operator creates it only where prometheus-operator's CRD exists. Likewise the
 * cert-manager Certificate for spec.tls.certManager, created only where cert-manager's API is served.
 */
import { parseAllDocuments, stringify } from 'yaml';
import { API_VERSION, KIND, withDefaults, type CacheCluster } from './api/types.js';
import {
  buildCertificate,
  buildClientService,
  buildHeadlessService,
  buildNetworkPolicy,
  buildRouterNetworkPolicy,
  buildPodDisruptionBudget,
  buildRingConfigMap,
  buildRouterDeployment,
  buildRouterPodDisruptionBudget,
  buildRouterRole,
  buildRouterRoleBinding,
  buildRouterServiceAccount,
  buildServerRole,
  buildServerRoleBinding,
  buildServerServiceAccount,
  buildServiceMonitor,
  buildStatefulSet,
} from './builders/index.js';
import { planRing } from './ring.js';

export const PLACEHOLDER_UID = '00000000-0000-0000-0000-000000000000';
export const RENDER_USAGE = 'usage: cachalot-operator render -f FILE   (FILE: YAML with one or more CacheCluster documents; - for stdin)';

/** The objects, in the order a reconcile applies them. Throws naming the document for anything unusable. */
export function renderObjects(yamlText: string, source = 'input'): Record<string, unknown>[] {
  const docs = parseAllDocuments(yamlText);
  const out: Record<string, unknown>[] = [];
  let clusters = 0;
  docs.forEach((doc, i) => {
    if (doc.errors.length) throw new Error(`${source}: document ${i + 1}: ${doc.errors[0]!.message}`);
    const obj = doc.toJS() as Partial<CacheCluster> | null;
    if (!obj || obj.kind !== KIND) return;
    if (obj.apiVersion !== API_VERSION) throw new Error(`${source}: document ${i + 1}: CacheCluster apiVersion must be ${API_VERSION}, got ${String(obj.apiVersion)}`);
    const name = obj.metadata?.name;
    if (!name) throw new Error(`${source}: document ${i + 1}: CacheCluster has no metadata.name`);
    const cc: CacheCluster = {
      apiVersion: API_VERSION,
      kind: KIND,
      metadata: { ...obj.metadata, name, namespace: obj.metadata?.namespace ?? 'default', uid: obj.metadata?.uid ?? PLACEHOLDER_UID },
      spec: obj.spec ?? {},
    };
    const spec = withDefaults(cc.spec);
    const plan = planRing({ cluster: name, namespace: cc.metadata.namespace!, replicas: spec.replicas, vnodes: spec.ring.vnodes, drainSeconds: spec.ring.drainSeconds, transitionSeconds: spec.ring.transitionSeconds, drainingSince: {}, now: new Date(0) });
    clusters++;
    try {
      out.push(buildHeadlessService(cc));
      if (spec.router.enabled) {
        out.push(buildRouterServiceAccount(cc), buildRouterRole(cc), buildRouterRoleBinding(cc), buildRouterDeployment(cc));
        const routerPdb = buildRouterPodDisruptionBudget(cc);
        if (routerPdb) out.push(routerPdb);
      }
      out.push(buildClientService(cc));
      const serverSa = buildServerServiceAccount(cc);
      if (serverSa) out.push(serverSa);
      out.push(buildServerRole(cc), buildServerRoleBinding(cc), buildStatefulSet(cc, plan.statefulSetReplicas), buildRingConfigMap(cc, plan.ring, plan.drainingSince, plan.transitionSince));
      const pdb = buildPodDisruptionBudget(cc);
      if (pdb) out.push(pdb);
      const sm = buildServiceMonitor(cc);
      if (sm) out.push(sm);
      const np = buildNetworkPolicy(cc);
      if (np) out.push(np);
      const rnp = buildRouterNetworkPolicy(cc);
      if (rnp) out.push(rnp);
      const cert = buildCertificate(cc);
      if (cert) out.push(cert);
    } catch (err) {
      throw new Error(`${source}: CacheCluster ${name}: ${(err as Error).message}`);
    }
  });
  if (clusters === 0) throw new Error(`${source}: no CacheCluster (apiVersion ${API_VERSION}, kind ${KIND}) found`);
  return out;
}

export function renderYaml(yamlText: string, source = 'input'): string {
  return renderObjects(yamlText, source)
    .map((o) => stringify(o, { lineWidth: 0 }))
    .join('---\n');
}

/** Parses `render`'s own arguments (after the word `render`). */
export function parseRenderArgs(argv: string[]): { file: string } {
  let file: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-f' || arg === '--filename') {
      file = argv[++i];
      if (!file) throw new Error(`${arg} needs a value\n${RENDER_USAGE}`);
    } else if (arg.startsWith('--filename=')) {
      file = arg.slice('--filename='.length);
    } else {
      throw new Error(`unknown argument ${arg}\n${RENDER_USAGE}`);
    }
  }
  if (!file) throw new Error(`render needs -f FILE\n${RENDER_USAGE}`);
  return { file };
}
