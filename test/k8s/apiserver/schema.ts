/**
 * Structural-schema handling for custom resources in the API server double: defaulting, pruning of unknown
 * fields and the validation keywords the Cachalot CRD uses (type, enum, minimum/maximum, min/maxLength, maxItems,
 * pattern, required, int-or-string) and CEL rules (x-kubernetes-validations, the subset in cel.ts), with
 * transition rules on update and ratcheting (a value the write leaves unchanged is not validated again).
 */
import { sameJson } from './canonical.js';
import { evalRule, usesOldSelf } from './cel.js';
import { isObject, type Json, type JsonObject } from './patch.js';
import type { JSONSchema } from './resources.js';

export function applyDefaults(value: Json | undefined, schema: JSONSchema): void {
  if (isObject(value)) {
    for (const [k, prop] of Object.entries(schema.properties ?? {})) {
      if (value[k] === undefined && prop.default !== undefined) value[k] = JSON.parse(JSON.stringify(prop.default)) as Json;
      if (value[k] !== undefined) applyDefaults(value[k], prop);
    }
    if (isObject(schema.additionalProperties)) for (const v of Object.values(value)) applyDefaults(v, schema.additionalProperties);
  } else if (Array.isArray(value) && schema.items) {
    for (const v of value) applyDefaults(v, schema.items);
  }
}

export function prune(value: Json | undefined, schema: JSONSchema, root = false): void {
  if (schema['x-kubernetes-preserve-unknown-fields']) return;
  if (isObject(value)) {
    if (schema.properties) {
      for (const k of Object.keys(value)) {
        if (root && (k === 'apiVersion' || k === 'kind' || k === 'metadata')) continue;
        const prop = schema.properties[k];
        if (!prop) delete value[k];
        else prune(value[k], prop);
      }
    } else if (isObject(schema.additionalProperties)) {
      for (const v of Object.values(value)) prune(v, schema.additionalProperties);
    }
  } else if (Array.isArray(value) && schema.items) {
    for (const v of value) prune(v, schema.items);
  }
}

function typeOk(v: Json, type: string): boolean {
  switch (type) {
    case 'object':
      return isObject(v);
    case 'array':
      return Array.isArray(v);
    case 'string':
      return typeof v === 'string';
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v);
    case 'number':
      return typeof v === 'number';
    case 'boolean':
      return typeof v === 'boolean';
    default:
      return true;
  }
}

/** Messages follow the real API server's wording, e.g. `spec.replicas: Invalid value: -1: spec.replicas in
 * body should be greater than or equal to 0`. */
export function validate(value: Json | undefined, schema: JSONSchema, path: string, errors: string[]): void {
  if (value === undefined || value === null) return;
  if (schema['x-kubernetes-int-or-string']) {
    if (typeof value !== 'string' && !(typeof value === 'number' && Number.isInteger(value))) errors.push(`${path}: Invalid value: ${JSON.stringify(value)}: ${path} in body must be of type int-or-string`);
    return;
  }
  if (schema.type && !typeOk(value, schema.type)) {
    errors.push(`${path}: Invalid value: "${Array.isArray(value) ? 'array' : typeof value}": ${path} in body must be of type ${schema.type}: "${Array.isArray(value) ? 'array' : typeof value}"`);
    return;
  }
  if (schema.enum && !schema.enum.some((e) => e === value)) errors.push(`${path}: Unsupported value: ${JSON.stringify(value)}: supported values: ${schema.enum.map((e) => JSON.stringify(e)).join(', ')}`);
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) errors.push(`${path}: Invalid value: ${value}: ${path} in body should be greater than or equal to ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) errors.push(`${path}: Invalid value: ${value}: ${path} in body should be less than or equal to ${schema.maximum}`);
  }
  if (typeof value === 'string') {
    if (schema.minLength !== undefined && value.length < schema.minLength) errors.push(`${path}: Invalid value: "${value}": ${path} in body should be at least ${schema.minLength} chars long`);
    if (schema.maxLength !== undefined && value.length > schema.maxLength) errors.push(`${path}: Too long: may not be longer than ${schema.maxLength}`);
    if (schema.pattern && !new RegExp(schema.pattern).test(value)) errors.push(`${path}: Invalid value: "${value}": ${path} in body should match '${schema.pattern}'`);
  }
  if (isObject(value)) {
    for (const r of schema.required ?? []) if (value[r] === undefined) errors.push(`${path}.${r}: Required value`);
    for (const [k, v] of Object.entries(value)) {
      const prop = schema.properties?.[k] ?? (isObject(schema.additionalProperties) ? schema.additionalProperties : undefined);
      if (prop && !(path === '' && k === 'metadata')) validate(v, prop, path ? `${path}.${k}` : k, errors);
    }
  }
  if (Array.isArray(value) && schema.maxItems !== undefined && value.length > schema.maxItems) errors.push(`${path}: Too many: ${value.length}: must have at most ${schema.maxItems} items`);
  if (Array.isArray(value) && schema.items) value.forEach((v, i) => validate(v, schema.items!, `${path}[${i}]`, errors));
}

/** Paths of fields the schema does not know, for fieldValidation=Strict (which rejects instead of pruning). */
export function unknownFields(value: Json | undefined, schema: JSONSchema, path: string, out: string[], root = false): void {
  if (schema['x-kubernetes-preserve-unknown-fields']) return;
  if (isObject(value)) {
    for (const [k, v] of Object.entries(value)) {
      if (root && (k === 'apiVersion' || k === 'kind' || k === 'metadata')) continue;
      const p = path ? `${path}.${k}` : k;
      const prop = schema.properties?.[k] ?? (isObject(schema.additionalProperties) ? schema.additionalProperties : undefined);
      if (!prop) {
        if (schema.properties || schema.additionalProperties === false) out.push(p);
      } else unknownFields(v, prop, p, out);
    }
  } else if (Array.isArray(value) && schema.items) {
    value.forEach((v, i) => unknownFields(v, schema.items!, `${path}[${i}]`, out));
  }
}

const REASON_TEXT: Record<string, string> = { FieldValueForbidden: 'Forbidden', FieldValueRequired: 'Required value', FieldValueDuplicate: 'Duplicate value' };

/** x-kubernetes-validations of every schema node with a value, in kube-apiserver's error wording. */
export function celErrors(value: Json | undefined, old: Json | undefined, schema: JSONSchema, path: string, errors: string[]): void {
  if (value === undefined || value === null) return;
  // Ratcheting: what the write did not change is not validated again (CRDValidationRatcheting, on since 1.30).
  if (old !== undefined && sameJson(value, old)) return;
  for (const r of schema['x-kubernetes-validations'] ?? []) {
    const transition = usesOldSelf(r.rule);
    if (transition && (old === undefined || old === null)) continue;
    const at = r.fieldPath ? `${path}${r.fieldPath}` : path || '<root>';
    let ok: boolean;
    try {
      ok = evalRule(r.rule, { self: value, ...(transition ? { oldSelf: old } : {}) });
    } catch (err) {
      errors.push(`${at}: Invalid value: "${schema.type ?? 'object'}": ${(err as Error).message} evaluating rule: ${r.rule}`);
      continue;
    }
    if (ok) continue;
    const message = r.message ?? `failed rule: ${r.rule}`;
    const reason = r.reason && REASON_TEXT[r.reason];
    errors.push(reason ? `${at}: ${reason}: ${message}` : `${at}: Invalid value: "${schema.type ?? 'object'}": ${message}`);
  }
  if (isObject(value)) {
    for (const [k, v] of Object.entries(value)) {
      const prop = schema.properties?.[k] ?? (isObject(schema.additionalProperties) ? schema.additionalProperties : undefined);
      if (prop && !(path === '' && k === 'metadata')) celErrors(v, isObject(old) ? old[k] : undefined, prop, path ? `${path}.${k}` : k, errors);
    }
  } else if (Array.isArray(value) && schema.items) {
    value.forEach((v, i) => celErrors(v, undefined, schema.items!, `${path}[${i}]`, errors));
  }
}

export function processCustomResource(obj: JsonObject, schema: JSONSchema, old?: JsonObject): string[] {
  applyDefaults(obj, schema);
  prune(obj, schema, true);
  const errors: string[] = [];
  validate(obj, schema, '', errors);
  if (errors.length === 0) celErrors(obj, old, schema, '', errors);
  return errors;
}
