/**
 * Patch semantics of the API server double: JSON merge patch (RFC 7386, exact), JSON patch (RFC 6902,
 * add/remove/replace/test), an approximation of strategic merge patch, and a field-owner-less server-side apply.
 *
 * Simplifications (documented in docs/operator.md as well):
 * - Strategic merge: lists of objects are merged by the first of `name`, `containerPort`, `port`, `type`,
 *   `mountPath`, `key` that the elements carry; other lists are replaced; `$patch: delete` items are removed;
 *   other `$` directives (`$setElementOrder`, `$retainKeys`, `$deleteFromPrimitiveList`) are ignored.
 * - Server-side apply keeps, per object and field manager, the last configuration that manager applied.
 *   Fields that were in that manager's previous configuration and are missing from the new one are removed
 *   (which is what SSA does for fields only that manager owned); the new configuration is then merged in,
 *   with lists replaced atomically (no associative list merge) and no conflict detection between managers.
 */

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

export function mergePatch(target: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) return clone(patch);
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

const MERGE_KEYS = ['name', 'containerPort', 'port', 'type', 'mountPath', 'key'];

function mergeKeyOf(items: Json[]): string | undefined {
  const objs = items.filter(isObject);
  if (objs.length === 0 || objs.length !== items.length) return undefined;
  return MERGE_KEYS.find((k) => objs.every((o) => o[k] !== undefined));
}

export function strategicMerge(target: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) return clone(patch);
  if (patch['$patch'] === 'replace') {
    const { $patch: _ignored, ...rest } = patch;
    return clone(rest);
  }
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith('$')) continue;
    if (v === null) {
      delete out[k];
      continue;
    }
    const cur = out[k];
    if (Array.isArray(v) && Array.isArray(cur)) {
      const key = mergeKeyOf([...cur, ...v.filter((i) => !(isObject(i) && i['$patch'] === 'delete' && Object.keys(i).length === 1))]);
      if (key) {
        const merged: Json[] = cur.map((i) => clone(i));
        for (const item of v) {
          if (!isObject(item)) continue;
          const idx = merged.findIndex((m) => isObject(m) && m[key] === item[key]);
          if (item['$patch'] === 'delete') {
            if (idx >= 0) merged.splice(idx, 1);
          } else if (idx >= 0) merged[idx] = strategicMerge(merged[idx], item);
          else merged.push(strategicMerge(undefined, item));
        }
        out[k] = merged;
        continue;
      }
    }
    out[k] = Array.isArray(v) ? clone(v) : strategicMerge(cur, v);
  }
  return out;
}

export interface JsonPatchOp {
  op: 'add' | 'remove' | 'replace' | 'test' | 'move' | 'copy';
  path: string;
  value?: Json;
  from?: string;
}

function pointer(path: string): string[] {
  if (path === '') return [];
  return path
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

export class PatchError extends Error {}

export function jsonPatch(doc: Json, ops: JsonPatchOp[]): Json {
  let root = clone(doc);
  for (const op of ops) {
    const parts = pointer(op.path);
    const last = parts.pop();
    let parent: Json = root;
    for (const p of parts) {
      const next: Json | undefined = Array.isArray(parent) ? parent[Number(p)] : isObject(parent) ? parent[p] : undefined;
      if (next === undefined) throw new PatchError(`path ${op.path} does not exist`);
      parent = next;
    }
    if (last === undefined) {
      if (op.op === 'add' || op.op === 'replace') root = clone(op.value ?? null);
      continue;
    }
    const get = (): Json | undefined => (Array.isArray(parent) ? parent[last === '-' ? parent.length : Number(last)] : isObject(parent) ? parent[last] : undefined);
    switch (op.op) {
      case 'test':
        if (JSON.stringify(get()) !== JSON.stringify(op.value)) throw new PatchError(`test failed at ${op.path}`);
        break;
      case 'remove':
        if (get() === undefined) throw new PatchError(`path ${op.path} does not exist`);
        if (Array.isArray(parent)) parent.splice(Number(last), 1);
        else if (isObject(parent)) delete parent[last];
        break;
      case 'add':
      case 'replace':
        if (op.op === 'replace' && get() === undefined) throw new PatchError(`path ${op.path} does not exist`);
        if (Array.isArray(parent)) {
          const i = last === '-' ? parent.length : Number(last);
          if (op.op === 'add') parent.splice(i, 0, clone(op.value ?? null));
          else parent[i] = clone(op.value ?? null);
        } else if (isObject(parent)) parent[last] = clone(op.value ?? null);
        break;
      default:
        throw new PatchError(`unsupported JSON patch op ${op.op}`);
    }
  }
  return root;
}

/** Removes from `current` the fields `previous` had and `applied` lacks (recursively through objects). */
function removeDropped(current: JsonObject, previous: JsonObject, applied: JsonObject): void {
  for (const [k, prev] of Object.entries(previous)) {
    if (!(k in applied)) {
      delete current[k];
      continue;
    }
    const cur = current[k];
    const next = applied[k];
    if (isObject(prev) && isObject(next) && isObject(cur)) removeDropped(cur, prev, next);
  }
}

function mergeApplied(current: Json | undefined, applied: Json): Json {
  if (!isObject(applied) || !isObject(current)) return clone(applied);
  const out: JsonObject = { ...current };
  for (const [k, v] of Object.entries(applied)) out[k] = mergeApplied(out[k], v);
  return out;
}

export function serverSideApply(current: JsonObject, previousByManager: JsonObject | undefined, applied: JsonObject): JsonObject {
  const out = clone(current);
  if (previousByManager) removeDropped(out, previousByManager, applied);
  return mergeApplied(out, applied) as JsonObject;
}
