/**
 * TEST DOUBLE wiring for the operator's router pods (operator/src/builders/router.ts): what the kubelet double
 * runs for a pod of a `<name>-router` Deployment instead of cachalot-server. On a cluster the pod's image is
 * cachalot-sidecar and it reads the ring through the API with its ServiceAccount's token; here it is
 * `node dist/server/src/sidecar/main.js` with the container's own arguments (`$(POD_NAMESPACE)` expanded and
 * rewritten for loopback by the kubelet double), the token the kubelet double requests for the pod's
 * ServiceAccount (so the router's Role is what authorizes its watch of the ring ConfigMap), and
 * pod-dns-shim.mjs resolving the ring's pod DNS names through the cluster DNS file services.ts writes.
 */
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
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
export function routerProgram(dnsFile: string, extraArgs: string[] = []): (pod: V1Pod) => PodProgram | undefined {
  return (pod) => {
    if (pod.metadata?.labels?.[LABEL_NAME] !== ROUTER_APP) return undefined;
    return {
      main: SIDECAR_MAIN,
      nodeArgs: ['--import', SHIM],
      extraArgs: ['--log-level', 'warn', ...extraArgs],
      env: { CACHALOT_E2E_POD_DNS: dnsFile },
    };
  };
}
