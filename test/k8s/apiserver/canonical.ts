/**
 * JSON the way kube-apiserver hands it back: it decodes every write into Go values and encodes them again, so
 * a client never gets its own key order back (maps, and custom resources' unstructured objects, come out with
 * sorted keys), and two bodies that differ only in key order are the same object.
 */
import { isObject, type Json } from './patch.js';

/** A copy with every object's keys in sorted order, recursively. */
export function sortKeys<T extends Json>(v: T): T {
  if (Array.isArray(v)) return v.map((x) => sortKeys(x)) as T;
  if (!isObject(v)) return v;
  const out: Record<string, Json> = {};
  for (const k of Object.keys(v).sort()) if (v[k] !== undefined) out[k] = sortKeys(v[k]!);
  return out as T;
}

/** Equality that ignores key order and keys whose value is undefined. */
export function sameJson(a: Json | undefined, b: Json | undefined): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((v, i) => sameJson(v, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    return ka.length === kb.length && ka.every((k) => sameJson(a[k], b[k]));
  }
  return false;
}
