/**
 * Update validation of built-in kinds in the API server double: the fields kube-apiserver refuses to change
 * once an object exists, with its messages (pkg/apis/apps/validation ValidateStatefulSetUpdate,
 * pkg/apis/core/validation ValidatePersistentVolumeClaimUpdate and ValidateServiceUpdate,
 * ValidateDeploymentUpdate). PodDisruptionBudget's selector is mutable in policy/v1, so it is not listed.
 */
import { isObject, type Json, type JsonObject } from './patch.js';
import type { ResourceDef } from './resources.js';
import { parseQuantity } from './quantity.js';
import { sameJson } from './canonical.js';

export interface FieldError {
  field: string;
  reason: 'FieldValueForbidden' | 'FieldValueInvalid' | 'FieldValueRequired' | 'FieldValueNotSupported';
  message: string;
}

function spec(o: JsonObject): JsonObject {
  return isObject(o.spec) ? o.spec : {};
}

/** Go's %#v of a []string, as the real messages print clusterIPs. */
function goStrings(v: Json | undefined): string {
  return `[]string{${(Array.isArray(v) ? v : []).map((s) => JSON.stringify(s)).join(', ')}}`;
}

const STS_MUTABLE = ['replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy', 'minReadySeconds'];

function statefulSet(prev: JsonObject, next: JsonObject): FieldError[] {
  const a = { ...spec(prev) };
  const b = { ...spec(next) };
  for (const k of STS_MUTABLE) {
    delete a[k];
    delete b[k];
  }
  if (sameJson(a, b)) return [];
  return [{ field: 'spec', reason: 'FieldValueForbidden', message: "Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden" }];
}

function storageRequest(s: JsonObject): string | undefined {
  const r = isObject(s.resources) && isObject(s.resources.requests) ? s.resources.requests.storage : undefined;
  return typeof r === 'string' ? r : typeof r === 'number' ? String(r) : undefined;
}

function persistentVolumeClaim(prev: JsonObject, next: JsonObject): FieldError[] {
  const a = structuredClone(spec(prev));
  const b = structuredClone(spec(next));
  const bound = isObject(prev.status) && prev.status.phase === 'Bound';
  // Binding fills in volumeName once; a bound claim may change its requests (expansion) and attributes class.
  if (!a.volumeName && b.volumeName) a.volumeName = b.volumeName;
  const errors: FieldError[] = [];
  if (bound) {
    const before = storageRequest(a);
    const after = storageRequest(b);
    if (before && after && parseQuantity(after) < parseQuantity(before)) {
      errors.push({ field: 'spec.resources.requests.storage', reason: 'FieldValueForbidden', message: 'Forbidden: field can not be less than status.capacity' });
    }
    a.resources = b.resources ?? null;
    if (b.volumeAttributesClassName !== undefined) a.volumeAttributesClassName = b.volumeAttributesClassName;
  }
  if (!sameJson(a, b)) errors.unshift({ field: 'spec', reason: 'FieldValueForbidden', message: 'Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims' });
  return errors;
}

function service(prev: JsonObject, next: JsonObject): FieldError[] {
  const a = spec(prev);
  const b = spec(next);
  if (a.clusterIP !== undefined && b.clusterIP !== undefined && a.clusterIP !== b.clusterIP) {
    return [{ field: 'spec.clusterIPs[0]', reason: 'FieldValueInvalid', message: `Invalid value: ${goStrings(b.clusterIPs ?? [b.clusterIP])}: may not change once set` }];
  }
  return [];
}

function deployment(prev: JsonObject, next: JsonObject): FieldError[] {
  if (sameJson(spec(prev).selector, spec(next).selector)) return [];
  return [{ field: 'spec.selector', reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(spec(next).selector ?? null)}: field is immutable` }];
}

const RULES: Record<string, (prev: JsonObject, next: JsonObject) => FieldError[]> = {
  'apps/StatefulSet': statefulSet,
  'apps/Deployment': deployment,
  '/PersistentVolumeClaim': persistentVolumeClaim,
  '/Service': service,
};

/** Errors for an update of the main resource (status writes never change these fields). */
export function immutableFieldErrors(def: ResourceDef, prev: JsonObject, next: JsonObject): FieldError[] {
  const rule = def.schema ? undefined : RULES[`${def.group}/${def.kind}`];
  return rule ? rule(prev, next) : [];
}

/**
 * The allocated-on-create values an update without them keeps (kube-apiserver's patchAllocatedValues): a PUT
 * or apply that omits spec.clusterIP does not release the Service's address.
 */
export function keepAllocated(def: ResourceDef, prev: JsonObject, next: JsonObject): void {
  if (def.group !== '' || def.kind !== 'Service' || !isObject(next.spec)) return;
  const a = spec(prev);
  if (a.clusterIP !== undefined && (next.spec.clusterIP === undefined || next.spec.clusterIP === '')) next.spec.clusterIP = a.clusterIP;
  if (a.clusterIPs !== undefined && next.spec.clusterIPs === undefined) next.spec.clusterIPs = a.clusterIPs;
}
