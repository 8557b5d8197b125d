/**
 * Validation of built-in kinds in the API server double against Kubernetes' published OpenAPI schema, from
 * two packages generated from it: @kubernetes/client-node's model type maps (every field's JSON name and
 * type, for unknown fields and type errors, which kube-apiserver finds while decoding) and kubernetes-models'
 * compiled validators (required fields and enums, which it finds in validation).
 *
 * What kube-apiserver answers, and so the double:
 * - a value of the wrong JSON type: 400 BadRequest, `... cannot be handled as a StatefulSet: json: cannot
 *   unmarshal string into Go struct field StatefulSetSpec.spec.replicas of type int32`;
 * - an unknown field: with fieldValidation=Strict (kubectl's default) 400 `strict decoding error: unknown
 *   field "spec.foo"`; with Warn (the default, what client-node gets) the field is dropped and a `Warning`
 *   header names it; with Ignore it is dropped silently; in a server-side apply it is always refused, 400
 *   `failed to create typed patch object (apps/v1, Kind=StatefulSet): .spec.foo: field not declared in schema`;
 * - a missing required field or a value outside an enum: 422 Invalid.
 * Not modelled: defaulting beyond what immutable.ts needs, and the hand-written validation rules of
 * pkg/apis/.../validation (name formats, port ranges, label syntax, cross-field rules).
 */
import * as clientNode from '@kubernetes/client-node';
import { validate as configMap } from 'kubernetes-models/_schemas/IoK8sApiCoreV1ConfigMap';
import { validate as event } from 'kubernetes-models/_schemas/IoK8sApiCoreV1Event';
import { validate as namespace } from 'kubernetes-models/_schemas/IoK8sApiCoreV1Namespace';
import { validate as node } from 'kubernetes-models/_schemas/IoK8sApiCoreV1Node';
import { validate as persistentVolume } from 'kubernetes-models/_schemas/IoK8sApiCoreV1PersistentVolume';
import { validate as persistentVolumeClaim } from 'kubernetes-models/_schemas/IoK8sApiCoreV1PersistentVolumeClaim';
import { validate as pod } from 'kubernetes-models/_schemas/IoK8sApiCoreV1Pod';
import { validate as secret } from 'kubernetes-models/_schemas/IoK8sApiCoreV1Secret';
import { validate as service } from 'kubernetes-models/_schemas/IoK8sApiCoreV1Service';
import { validate as serviceAccount } from 'kubernetes-models/_schemas/IoK8sApiCoreV1ServiceAccount';
import { validate as deployment } from 'kubernetes-models/_schemas/IoK8sApiAppsV1Deployment';
import { validate as statefulSet } from 'kubernetes-models/_schemas/IoK8sApiAppsV1StatefulSet';
import { validate as podDisruptionBudget } from 'kubernetes-models/_schemas/IoK8sApiPolicyV1PodDisruptionBudget';
import { validate as networkPolicy } from 'kubernetes-models/_schemas/IoK8sApiNetworkingV1NetworkPolicy';
import { validate as lease } from 'kubernetes-models/_schemas/IoK8sApiCoordinationV1Lease';
import { validate as clusterRole } from 'kubernetes-models/_schemas/IoK8sApiRbacV1ClusterRole';
import { validate as clusterRoleBinding } from 'kubernetes-models/_schemas/IoK8sApiRbacV1ClusterRoleBinding';
import { validate as role } from 'kubernetes-models/_schemas/IoK8sApiRbacV1Role';
import { validate as roleBinding } from 'kubernetes-models/_schemas/IoK8sApiRbacV1RoleBinding';
import { validate as customResourceDefinition } from 'kubernetes-models/_schemas/IoK8sApiextensionsApiserverPkgApisApiextensionsV1CustomResourceDefinition';
import { isObject, type Json, type JsonObject } from './patch.js';
import type { ResourceDef } from './resources.js';

type Validator = ((data: unknown) => boolean) & { errors?: { instancePath: string; keyword: string; params: Record<string, unknown> }[] | null };

/** kind -> [kubernetes-models validator, client-node model name] */
const KINDS: Record<string, [Validator, string]> = {
  '/ConfigMap': [configMap, 'V1ConfigMap'],
  '/Event': [event, 'CoreV1Event'],
  '/Namespace': [namespace, 'V1Namespace'],
  '/Node': [node, 'V1Node'],
  '/PersistentVolume': [persistentVolume, 'V1PersistentVolume'],
  '/PersistentVolumeClaim': [persistentVolumeClaim, 'V1PersistentVolumeClaim'],
  '/Pod': [pod, 'V1Pod'],
  '/Secret': [secret, 'V1Secret'],
  '/Service': [service, 'V1Service'],
  '/ServiceAccount': [serviceAccount, 'V1ServiceAccount'],
  'apps/Deployment': [deployment, 'V1Deployment'],
  'apps/StatefulSet': [statefulSet, 'V1StatefulSet'],
  'policy/PodDisruptionBudget': [podDisruptionBudget, 'V1PodDisruptionBudget'],
  'coordination.k8s.io/Lease': [lease, 'V1Lease'],
  'networking.k8s.io/NetworkPolicy': [networkPolicy, 'V1NetworkPolicy'],
  'rbac.authorization.k8s.io/ClusterRole': [clusterRole, 'V1ClusterRole'],
  'rbac.authorization.k8s.io/ClusterRoleBinding': [clusterRoleBinding, 'V1ClusterRoleBinding'],
  'rbac.authorization.k8s.io/Role': [role, 'V1Role'],
  'rbac.authorization.k8s.io/RoleBinding': [roleBinding, 'V1RoleBinding'],
  'apiextensions.k8s.io/CustomResourceDefinition': [customResourceDefinition, 'V1CustomResourceDefinition'],
};

interface Attribute {
  baseName: string;
  type: string;
  format: string;
}

const models = clientNode as unknown as Record<string, { getAttributeTypeMap?: () => Attribute[] } | undefined>;

const attributeCache = new Map<string, Map<string, Attribute> | undefined>();

function attributes(model: string): Map<string, Attribute> | undefined {
  if (!attributeCache.has(model)) {
    const m = models[model]?.getAttributeTypeMap?.();
    attributeCache.set(model, m ? new Map(m.map((a) => [a.baseName, a])) : undefined);
  }
  return attributeCache.get(model);
}

/** resource.Quantity maps: kube-apiserver also accepts a JSON number there (`cpu: 1`). */
const QUANTITY_MAPS = new Set(['limits', 'requests', 'capacity', 'allocatable', 'hard', 'used', 'allocatedResources']);

export interface DecodeProblems {
  /** Dotted paths of fields the schema does not declare. */
  unknown: string[];
  /** The first value of the wrong type, as Go's json decoder reports it. */
  typeError?: string;
}

/** The JSON type as Go's encoding/json names it in an UnmarshalTypeError. */
function jsonTypeName(v: Json): string {
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'boolean') return 'bool';
  return typeof v === 'object' ? 'object' : typeof v;
}

function goType(t: Attribute): string {
  if (t.type === 'number') return t.format === 'int64' ? 'int64' : t.format === 'double' ? 'float64' : 'int32';
  if (t.type === 'boolean') return 'bool';
  if (t.type === 'string' || t.type === 'Date' || t.type === 'V1MicroTime') return 'string';
  if (t.type.startsWith('Array<')) return `[]${goType({ ...t, type: t.type.slice(6, -1) })}`;
  if (t.type.startsWith('{ [key: string]: ')) return `map[string]${goType({ ...t, type: t.type.slice(17, -3) })}`;
  return `v1.${t.type.replace(/^(V1|CoreV1)/, '')}`;
}

/** Walks `value` as the client-node model type `t` describes it, collecting unknown fields and the first type error. */
function walk(value: Json, t: Attribute, path: string, struct: string, out: DecodeProblems, field = ''): void {
  const type = t.type;
  if (value === null || type === 'any' || type === 'object') return;
  const mismatch = (): void => {
    if (!out.typeError) out.typeError = `json: cannot unmarshal ${jsonTypeName(value)} into Go struct field ${struct}.${path} of type ${goType(t)}`;
  };
  if (type === 'string' || type === 'Date' || type === 'V1MicroTime') {
    if (typeof value !== 'string' && !(typeof value === 'number' && QUANTITY_MAPS.has(field))) mismatch();
  } else if (type === 'number') {
    if (typeof value !== 'number') mismatch();
  } else if (type === 'boolean') {
    if (typeof value !== 'boolean') mismatch();
  } else if (type === 'IntOrString') {
    if (typeof value !== 'string' && !(typeof value === 'number' && Number.isInteger(value))) mismatch();
  } else if (type.startsWith('Array<')) {
    if (!Array.isArray(value)) return mismatch();
    value.forEach((v, i) => walk(v, { ...t, type: type.slice(6, -1) }, `${path}[${i}]`, struct, out, field));
  } else if (type.startsWith('{ [key: string]: ')) {
    if (!isObject(value)) return mismatch();
    for (const [k, v] of Object.entries(value)) walk(v, { ...t, type: type.slice(17, -3) }, `${path}.${k}`, struct, out, field);
  } else {
    const attrs = attributes(type);
    if (!attrs) return;
    if (!isObject(value)) return mismatch();
    const here = type.replace(/^(V1|CoreV1)/, '');
    for (const [k, v] of Object.entries(value)) {
      const p = path ? `${path}.${k}` : k;
      const a = attrs.get(k);
      if (!a) out.unknown.push(p);
      else walk(v, a, p, here, out, k);
    }
  }
}

export function isBuiltin(def: ResourceDef): boolean {
  return !def.schema && KINDS[`${def.group}/${def.kind}`] !== undefined;
}

/** Unknown fields and type errors in `obj` (a full object of kind `def`). */
export function decodeProblems(def: ResourceDef, obj: JsonObject): DecodeProblems {
  const out: DecodeProblems = { unknown: [] };
  const entry = KINDS[`${def.group}/${def.kind}`];
  if (entry) walk(obj, { baseName: '', type: entry[1], format: '' }, '', def.kind, out);
  return out;
}

/** Removes the fields at `paths` (dotted, with [i] indexes), as decoding into Go structs drops them. */
export function dropFields(obj: JsonObject, paths: string[]): void {
  for (const p of paths) {
    const parts = p.replace(/\[(\d+)\]/g, '.$1').split('.');
    let cur: Json | undefined = obj;
    for (const part of parts.slice(0, -1)) cur = Array.isArray(cur) ? cur[Number(part)] : isObject(cur) ? cur[part] : undefined;
    if (isObject(cur)) delete cur[parts[parts.length - 1]!];
  }
}

/** Required fields and enums (422 Invalid), in kube-apiserver's field-error wording. */
export function schemaErrors(def: ResourceDef, obj: JsonObject): { field: string; message: string; reason: 'FieldValueRequired' | 'FieldValueNotSupported' }[] {
  const entry = KINDS[`${def.group}/${def.kind}`];
  if (!entry || entry[0](obj)) return [];
  const out: { field: string; message: string; reason: 'FieldValueRequired' | 'FieldValueNotSupported' }[] = [];
  for (const e of entry[0].errors ?? []) {
    const segments = e.instancePath.split('/').filter(Boolean);
    const path = segments.map((seg, i) => (/^\d+$/.test(seg) ? `[${seg}]` : i === 0 ? seg : `.${seg}`)).join('');
    if (e.keyword === 'required') {
      const missing = String(e.params.missingProperty);
      out.push({ field: path ? `${path}.${missing}` : missing, message: 'Required value', reason: 'FieldValueRequired' });
    } else if (e.keyword === 'enum') {
      const value = segments.reduce<Json | undefined>((cur, seg) => (Array.isArray(cur) ? cur[Number(seg)] : isObject(cur) ? cur[seg] : undefined), obj);
      const allowed = (e.params.allowedValues as unknown[]).map((a) => JSON.stringify(a)).join(', ');
      out.push({ field: path, message: `Unsupported value: ${JSON.stringify(value)}: supported values: ${allowed}`, reason: 'FieldValueNotSupported' });
    }
  }
  return out;
}
