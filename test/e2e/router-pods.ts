/**
 * TEST DOUBLE wiring for the operator's router pods (operator/src/builders/router.ts): what the kubelet double
 * runs for a pod of a `<name>-router` Deployment instead of cachalot-server. On a cluster the pod's image is
 * cachalot-sidecar and it reads the ring through the API with its ServiceAccount's token; here it is
 * `node dist/server/src/sidecar/main.js` with the container's own arguments (`$(POD_NAMESPACE)` expanded and
 * rewritten for loopback by the kubelet double), a kubeconfig holding a token the API server double issued for
 * the pod's ServiceAccount (so the router's Role is what authorizes its list and watch of the ring ConfigMap),
 * and pod-dns-shim.mjs resolving the ring's pod DNS names through the cluster DNS file services.ts writes.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import type { ApiServerDouble } from '../k8s/apiserver/index.js';
import { serviceAccountUser } from '../k8s/apiserver/rbac.js';
import { LABEL_NAME } from '../../operator/src/builders/labels.js';
import { REPO_ROOT, type PodProgram } from './kubelet.js';

export const SIDECAR_MAIN = join(REPO_ROOT, 'dist', 'server', 'src', 'sidecar', 'main.js');
const SHIM = join(REPO_ROOT, 'test', 'e2e', 'pod-dns-shim.mjs');
/** The router pods' `app.kubernetes.io/name` (builders/router.ts, routerSelectorLabels). */
const ROUTER_APP = 'cachalot-router';

/**
 * KubeletOptions.program for router pods; other pods run cachalot-server. `extraArgs` follow the container's
 * arguments (e.g. `--no-transition-fill`).
 */
export function routerProgram(api: ApiServerDouble, root: string, dnsFile: string, extraArgs: string[] = []): (pod: V1Pod) => PodProgram | undefined {
  return (pod) => {
    if (pod.metadata?.labels?.[LABEL_NAME] !== ROUTER_APP) return undefined;
    const ns = pod.metadata.namespace ?? 'default';
    const token = api.issueToken(serviceAccountUser(ns, pod.spec?.serviceAccountName ?? 'default'));
    const dir = join(root, 'pods', pod.metadata.uid!);
    mkdirSync(dir, { recursive: true });
    const kubeconfig = join(dir, 'kubeconfig.yaml');
    writeFileSync(kubeconfig, api.kubeconfigYaml(ns, token));
    return {
      main: SIDECAR_MAIN,
      nodeArgs: ['--import', SHIM],
      extraArgs: ['--log-level', 'warn', ...extraArgs],
      env: { KUBECONFIG: kubeconfig, CACHALOT_E2E_POD_DNS: dnsFile },
    };
  };
}
