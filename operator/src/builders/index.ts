export { buildStatefulSet, pvcName, serverArgs, serverRingArgs, type StatefulSetOptions, derivedResources, terminationGraceSeconds, FLASH_VOLUME } from './statefulset.js';
export { buildHeadlessService, buildClientService } from './services.js';
export { buildRingConfigMap } from './configmap.js';
export { buildPodDisruptionBudget } from './pdb.js';
export { buildServiceMonitor, SERVICE_MONITOR_API_VERSION, SERVICE_MONITOR_CRD } from './servicemonitor.js';
export { selectorLabels, selectorString, commonLabels, ownerReference, LABEL_MANAGED_BY, LABEL_INSTANCE } from './labels.js';
export { quantityBytes } from './quantity.js';
export { buildRouterDeployment, buildRouterPodDisruptionBudget, buildRouterRole, buildRouterRoleBinding, buildRouterServiceAccount, routerName, routerSelectorLabels } from './router.js';
