/**
 * The defaults kube-apiserver writes into built-in objects that the double's checks depend on
 * (pkg/apis/apps/v1/defaults.go, pkg/apis/core/v1/defaults.go). A StatefulSet field the client never set is
 * stored with its default, so a later apply that sets it to something else changes an immutable field
 * there as well: an operator comparing its desired spec with the stored one sees these values.
 */
import { isObject, type JsonObject } from './patch.js';
import type { ResourceDef } from './resources.js';

function claimDefaults(claim: JsonObject): void {
  if (!isObject(claim.spec)) claim.spec = {};
  const spec = claim.spec as JsonObject;
  if (spec.volumeMode === undefined) spec.volumeMode = 'Filesystem';
}

function statefulSet(o: JsonObject): void {
  if (!isObject(o.spec)) return;
  const spec = o.spec;
  if (spec.replicas === undefined) spec.replicas = 1;
  if (spec.podManagementPolicy === undefined) spec.podManagementPolicy = 'OrderedReady';
  if (spec.revisionHistoryLimit === undefined) spec.revisionHistoryLimit = 10;
  if (!isObject(spec.updateStrategy)) spec.updateStrategy = {};
  const strategy = spec.updateStrategy as JsonObject;
  if (strategy.type === undefined) {
    strategy.type = 'RollingUpdate';
    if (strategy.rollingUpdate === undefined) strategy.rollingUpdate = {};
  }
  if (strategy.type === 'RollingUpdate' && isObject(strategy.rollingUpdate) && strategy.rollingUpdate.partition === undefined) strategy.rollingUpdate.partition = 0;
  if (!isObject(spec.persistentVolumeClaimRetentionPolicy)) spec.persistentVolumeClaimRetentionPolicy = {};
  const retention = spec.persistentVolumeClaimRetentionPolicy as JsonObject;
  if (retention.whenDeleted === undefined) retention.whenDeleted = 'Retain';
  if (retention.whenScaled === undefined) retention.whenScaled = 'Retain';
  if (Array.isArray(spec.volumeClaimTemplates)) {
    for (const t of spec.volumeClaimTemplates) {
      if (!isObject(t)) continue;
      if (t.apiVersion === undefined) t.apiVersion = 'v1';
      if (t.kind === undefined) t.kind = 'PersistentVolumeClaim';
      claimDefaults(t);
      if (t.status === undefined) t.status = { phase: 'Pending' };
    }
  }
}

export function applyBuiltinDefaults(def: ResourceDef, o: JsonObject): void {
  if (def.schema) return;
  if (def.group === 'apps' && def.kind === 'StatefulSet') statefulSet(o);
  else if (def.group === '' && def.kind === 'PersistentVolumeClaim') {
    claimDefaults(o);
    if (!isObject(o.status)) o.status = { phase: 'Pending' };
  }
}
