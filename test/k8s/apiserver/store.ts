/**
 * Object store and write semantics of the API server double: resourceVersion (one global counter, like
 * etcd's revision), generation, status/scale subresources, optimistic concurrency (409), finalizers,
 * ownerReference garbage collection, CRD registration, and a bounded event history that watches replay from
 * (older than the history -> 410 Gone, as after an etcd compaction).
 */
import { randomUUID } from 'node:crypto';
import { evalJsonPath } from './jsonpath.js';
import { clone, isObject, jsonPatch, mergePatch, PatchError, serverSideApply, strategicMerge, type Json, type JsonObject, type JsonPatchOp } from './patch.js';
import { BUILTINS, groupVersion, type JSONSchema, type PrinterColumn, type ResourceDef } from './resources.js';
import { processCustomResource, unknownFields } from './schema.js';
import { immutableFieldErrors, keepAllocated, type FieldError } from './immutable.js';
import { sameJson, sortKeys } from './canonical.js';
import { applyBuiltinDefaults } from './defaults.js';
import { decodeProblems, dropFields, isBuiltin, schemaErrors } from './builtin-schema.js';
import { parse as parseYaml } from 'yaml';

export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: { name?: string; group?: string; kind?: string; causes?: { reason?: string; message: string; field?: string }[] },
  ) {
    super(message);
  }

  toStatus(): JsonObject {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      ...(this.details ? { details: this.details as unknown as Json } : {}),
      code: this.code,
    };
  }
}


/** 422 Invalid as kube-apiserver words it: `StatefulSet.apps "web" is invalid: spec: Forbidden: ...`. */
export function invalid(def: { kind: string; group: string }, name: string, errors: FieldError[]): ApiError {
  const texts = errors.map((e) => `${e.field}: ${e.message}`);
  return new ApiError(422, 'Invalid', `${def.kind}${def.group ? '.' + def.group : ''} "${name}" is invalid: ${texts.length === 1 ? texts[0] : '[' + texts.join(', ') + ']'}`, {
    name,
    group: def.group,
    kind: def.kind,
    causes: errors.map((e) => ({ reason: e.reason, message: e.message, field: e.field })),
  });
}

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  rv: number;
  type: EventType;
  def: ResourceDef;
  object: JsonObject;
}

export type Selector = (labels: Record<string, string>) => boolean;

/** Equality, inequality, existence and set-based requirements (`a=b`, `a!=b`, `a`, `!a`, `a in (x,y)`). */
export function parseLabelSelector(text: string | undefined): Selector {
  if (!text) return () => true;
  const reqs: Selector[] = [];
  for (const raw of text.match(/([^,(]+(\([^)]*\))?)/g) ?? []) {
    const part = raw.trim();
    if (!part) continue;
    let m: RegExpExecArray | null;
    if ((m = /^([^!=\s]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(part))) {
      const [, k, op, vs] = m;
      const set = new Set(vs!.split(',').map((s) => s.trim()));
      reqs.push(op === 'in' ? (l) => l[k!] !== undefined && set.has(l[k!]!) : (l) => l[k!] === undefined || !set.has(l[k!]!));
    } else if ((m = /^([^!=]+)!=(.*)$/.exec(part))) {
      const [, k, v] = m;
      reqs.push((l) => l[k!.trim()] !== v!.trim());
    } else if ((m = /^([^!=]+)==?(.*)$/.exec(part))) {
      const [, k, v] = m;
      reqs.push((l) => l[k!.trim()] === v!.trim());
    } else if (part.startsWith('!')) {
      reqs.push((l) => l[part.slice(1)] === undefined);
    } else {
      reqs.push((l) => l[part] !== undefined);
    }
  }
  return (labels) => reqs.every((r) => r(labels));
}

/** `metadata.name=x`, `metadata.namespace=y` (what kubectl and leader election use). */
export function parseFieldSelector(text: string | undefined): (o: JsonObject) => boolean {
  if (!text) return () => true;
  const reqs = text.split(',').map((p) => {
    const neg = p.includes('!=');
    const [path, value] = p.split(neg ? '!=' : /==?/) as [string, string];
    return (o: JsonObject) => (String(evalJsonPath(o, `.${path.trim()}`) ?? '') === value.trim()) !== neg;
  });
  return (o) => reqs.every((r) => r(o));
}

export function meta(o: JsonObject): JsonObject {
  if (!isObject(o.metadata)) o.metadata = {};
  return o.metadata as JsonObject;
}

function labelsOf(o: JsonObject): Record<string, string> {
  const l = meta(o).labels;
  return isObject(l) ? (l as Record<string, string>) : {};
}

function now(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function setPath(o: JsonObject, path: string, value: Json): void {
  const parts = path.replace(/^\./, '').split('.');
  let cur = o;
  for (const p of parts.slice(0, -1)) {
    if (!isObject(cur[p])) cur[p] = {};
    cur = cur[p] as JsonObject;
  }
  cur[parts[parts.length - 1]!] = value;
}

/** Everything that is neither metadata nor status: a change here bumps metadata.generation. */
function specPart(o: JsonObject): JsonObject {
  const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...rest } = o;
  return rest;
}

export interface DeleteOptions {
  propagationPolicy?: string;
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
}

export interface WriteOptions {
  fieldManager?: string;
  subresource?: string;
  force?: boolean;
  /** `Strict` rejects unknown fields of custom resources (400) instead of pruning them. */
  fieldValidation?: string;
  /** Internal: the write is a server-side apply (recorded as operation Apply, not Update). */
  applied?: boolean;
  /** Admission control run on the object about to be stored (prev undefined on create); throws to refuse. */
  admission?: (def: ResourceDef, prev: JsonObject | undefined, next: JsonObject) => void;
  /** Filled with the warnings to send back (`Warning: 299 - "..."` headers), e.g. unknown fields dropped. */
  warnings?: string[];
}

export class Store {
  private rv = 0;
  private nextClusterIp = 10;
  /** Watches asking to resume from a revision below this get 410 Gone. */
  compactedRv = 0;
  private readonly objects = new Map<string, { def: ResourceDef; obj: JsonObject }>();
  private readonly history: StoreEvent[] = [];
  private readonly historyLimit: number;
  private readonly appliedByManager = new Map<string, JsonObject>();
  private readonly defs = new Map<string, ResourceDef>();
  readonly listeners = new Set<(ev: StoreEvent) => void>();
  gcEnabled = true;

  constructor(opts: { historyLimit?: number } = {}) {
    this.historyLimit = opts.historyLimit ?? 10_000;
    for (const d of BUILTINS) this.register(d);
  }

  get resourceVersion(): number {
    return this.rv;
  }

  register(def: ResourceDef): void {
    this.defs.set(`${groupVersion(def)}/${def.plural}`, def);
  }

  unregister(def: ResourceDef): void {
    this.defs.delete(`${groupVersion(def)}/${def.plural}`);
  }

  resources(): ResourceDef[] {
    return [...this.defs.values()];
  }

  lookup(gv: string, plural: string): ResourceDef | undefined {
    return this.defs.get(`${gv}/${plural}`);
  }

  lookupKind(apiVersion: string, kind: string): ResourceDef | undefined {
    return this.resources().find((d) => groupVersion(d) === apiVersion && d.kind === kind);
  }

  /** Forgets history up to now: any watch resuming from an older resourceVersion gets 410 Gone. */
  compact(): void {
    this.compactedRv = this.rv;
    this.history.length = 0;
  }

  private key(def: ResourceDef, ns: string | undefined, name: string): string {
    return `${def.group}/${def.plural}/${def.namespaced ? ns ?? '' : ''}/${name}`;
  }

  private notFound(def: ResourceDef, name: string): ApiError {
    return new ApiError(404, 'NotFound', `${def.plural}${def.group ? '.' + def.group : ''} "${name}" not found`, { name, group: def.group, kind: def.plural });
  }

  private decorate(def: ResourceDef, obj: JsonObject): JsonObject {
    return sortKeys({ ...obj, apiVersion: groupVersion(def), kind: def.kind });
  }

  get(def: ResourceDef, ns: string | undefined, name: string): JsonObject {
    const e = this.objects.get(this.key(def, ns, name));
    if (!e) throw this.notFound(def, name);
    return this.decorate(def, e.obj);
  }

  tryGet(def: ResourceDef, ns: string | undefined, name: string): JsonObject | undefined {
    const e = this.objects.get(this.key(def, ns, name));
    return e ? this.decorate(def, e.obj) : undefined;
  }

  list(def: ResourceDef, ns?: string, labelSelector?: string, fieldSelector?: string): { items: JsonObject[]; resourceVersion: string } {
    const sel = parseLabelSelector(labelSelector);
    const fsel = parseFieldSelector(fieldSelector);
    const items: JsonObject[] = [];
    for (const e of this.objects.values()) {
      if (e.def !== def) continue;
      if (def.namespaced && ns && meta(e.obj).namespace !== ns) continue;
      if (!sel(labelsOf(e.obj)) || !fsel(e.obj)) continue;
      items.push(this.decorate(def, e.obj));
    }
    items.sort((a, b) => `${meta(a).namespace}/${meta(a).name}`.localeCompare(`${meta(b).namespace}/${meta(b).name}`));
    return { items, resourceVersion: String(this.rv) };
  }

  /** Events after `rv` for a watch to replay; throws 410 when they are no longer kept. */
  eventsSince(rv: number): StoreEvent[] {
    if (rv < this.compactedRv) throw new ApiError(410, 'Expired', `too old resource version: ${rv} (${this.compactedRv})`);
    return this.history.filter((e) => e.rv > rv);
  }

  private emit(type: EventType, def: ResourceDef, obj: JsonObject): void {
    const ev: StoreEvent = { rv: this.rv, type, def, object: this.decorate(def, obj) };
    this.history.push(ev);
    if (this.history.length > this.historyLimit) {
      const dropped = this.history.splice(0, this.history.length - this.historyLimit);
      this.compactedRv = dropped[dropped.length - 1]!.rv;
    }
    for (const l of this.listeners) l(ev);
  }

  // ---- writes ----------------------------------------------------------------------------------------------

  create(def: ResourceDef, ns: string | undefined, body: JsonObject, opts: WriteOptions = {}): JsonObject {
    const obj = clone(body);
    const m = meta(obj);
    if (!m.name && typeof m.generateName === 'string') m.name = m.generateName + randomUUID().slice(0, 5);
    const name = m.name;
    if (typeof name !== 'string' || !name) throw new ApiError(422, 'Invalid', `${def.kind} is invalid: metadata.name: Required value: name or generateName is required`);
    if (def.namespaced) {
      if (m.namespace && ns && m.namespace !== ns) throw new ApiError(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request');
      m.namespace = ns ?? (m.namespace as string) ?? 'default';
    } else delete m.namespace;
    const key = this.key(def, m.namespace as string | undefined, name);
    if (this.objects.has(key)) throw new ApiError(409, 'AlreadyExists', `${def.plural}${def.group ? '.' + def.group : ''} "${name}" already exists`, { name, group: def.group, kind: def.plural });
    m.uid = randomUUID();
    m.creationTimestamp = now();
    m.generation = 1;
    delete m.resourceVersion;
    delete m.deletionTimestamp;
    delete m.deletionGracePeriodSeconds;
    // Custom resources ignore status on create (it is owned by the status subresource); built-in kinds keep
    // it so that test helpers can create a Pod or Node in a given state in one call.
    if (def.schema && def.status) delete obj.status;
    if (def.group === '' && def.kind === 'Service') this.allocateClusterIp(obj);
    applyBuiltinDefaults(def, obj);
    this.admit(def, obj, opts);
    opts.admission?.(def, undefined, obj);
    if (opts.fieldManager) this.recordManager(def, obj, opts.fieldManager, 'Update');
    this.rv++;
    m.resourceVersion = String(this.rv);
    const stored = { def, obj: this.strip(obj) };
    this.objects.set(key, stored);
    this.afterWrite(def, stored.obj, undefined);
    this.emit('ADDED', def, stored.obj);
    // The real garbage collector also notices dependents created after their owner was deleted.
    if (Array.isArray(meta(stored.obj).ownerReferences) && this.gcEnabled) setImmediate(() => this.collectGarbage());
    return this.decorate(def, stored.obj);
  }

  /** What the Service IP allocator does on create: one address from 10.96.0.0/12 unless headless or ExternalName. */
  private allocateClusterIp(svc: JsonObject): void {
    if (!isObject(svc.spec)) svc.spec = {};
    const spec = svc.spec as JsonObject;
    if (spec.type === 'ExternalName') return;
    if (spec.clusterIP === undefined || spec.clusterIP === '') {
      const n = this.nextClusterIp++;
      spec.clusterIP = `10.96.${Math.floor(n / 256) % 256}.${n % 256}`;
    }
    if (spec.clusterIPs === undefined) spec.clusterIPs = [spec.clusterIP!];
  }

  /** PUT. The body's resourceVersion, when present, must be the stored one (optimistic concurrency). */
  update(def: ResourceDef, ns: string | undefined, name: string, body: JsonObject, opts: WriteOptions = {}): JsonObject {
    const e = this.objects.get(this.key(def, ns, name));
    if (!e) throw this.notFound(def, name);
    const rv = meta(body).resourceVersion;
    if (rv !== undefined && rv !== null && rv !== '' && rv !== meta(e.obj).resourceVersion) {
      throw new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${def.plural}${def.group ? '.' + def.group : ''} "${name}": the object has been modified; please apply your changes to the latest version and try again`, { name, group: def.group, kind: def.plural });
    }
    return this.commit(def, e.obj, clone(body), opts);
  }

  patch(def: ResourceDef, ns: string | undefined, name: string, contentType: string, rawBody: string, opts: WriteOptions = {}): JsonObject {
    const e = this.objects.get(this.key(def, ns, name));
    const isApply = contentType.startsWith('application/apply-patch');
    if (isApply && !opts.fieldManager) throw new ApiError(400, 'BadRequest', 'PATCH, PUT or POST with apply-patch requires fieldManager');
    let body: Json;
    try {
      body = (isApply ? parseYaml(rawBody) : JSON.parse(rawBody)) as Json;
    } catch (err) {
      throw new ApiError(400, 'BadRequest', `error decoding patch: ${(err as Error).message}`);
    }
    if (!e) {
      if (isApply && isObject(body)) {
        const created = this.create(def, ns, body, { ...(opts.fieldValidation ? { fieldValidation: opts.fieldValidation } : {}), ...(opts.admission ? { admission: opts.admission } : {}), ...(opts.warnings ? { warnings: opts.warnings } : {}), applied: true });
        this.appliedByManager.set(`${meta(created).uid}|${opts.fieldManager}`, clone(body));
        return this.patchManaged(def, created, opts.fieldManager!, 'Apply');
      }
      throw this.notFound(def, name);
    }
    const current = this.decorate(def, e.obj);
    let next: Json;
    try {
      if (contentType.startsWith('application/merge-patch+json')) next = mergePatch(current, body);
      else if (contentType.startsWith('application/strategic-merge-patch+json')) next = strategicMerge(current, body);
      else if (contentType.startsWith('application/json-patch+json')) {
        if (!Array.isArray(body)) throw new ApiError(400, 'BadRequest', 'json: cannot unmarshal object into Go value of type jsonpatch.Patch');
        next = jsonPatch(current, body as unknown as JsonPatchOp[]);
      } else if (isApply) {
        if (!isObject(body)) throw new PatchError('apply configuration must be an object');
        const mk = `${meta(e.obj).uid}|${opts.fieldManager}`;
        next = serverSideApply(current, this.appliedByManager.get(mk), body);
      } else throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`);
    } catch (err) {
      if (err instanceof PatchError) throw new ApiError(422, 'Invalid', err.message);
      throw err;
    }
    if (!isObject(next)) throw new ApiError(422, 'Invalid', 'patch did not produce an object');
    const rv = meta(body as JsonObject).resourceVersion;
    if (isObject(body) && isObject(body.metadata) && rv !== undefined && rv !== meta(e.obj).resourceVersion) {
      throw new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${def.plural} "${name}": the object has been modified; please apply your changes to the latest version and try again`);
    }
    const out = this.commit(def, e.obj, next, { ...opts, applied: isApply });
    // Remembered only once the write succeeded: a rejected apply must not change what this manager owns.
    if (isApply) this.appliedByManager.set(`${meta(e.obj).uid}|${opts.fieldManager}`, clone(body as JsonObject));
    return isApply && opts.fieldManager ? this.patchManaged(def, out, opts.fieldManager, 'Apply') : out;
  }

  private patchManaged(def: ResourceDef, obj: JsonObject, manager: string, operation: string): JsonObject {
    const e = this.objects.get(this.key(def, meta(obj).namespace as string, meta(obj).name as string))!;
    this.recordManager(def, e.obj, manager, operation);
    return this.decorate(def, e.obj);
  }

  /** managedFields entries name the manager and operation; fieldsV1 is left empty (no per-field ownership). */
  private recordManager(def: ResourceDef, obj: JsonObject, manager: string, operation: string): void {
    const m = meta(obj);
    const list = (Array.isArray(m.managedFields) ? m.managedFields : []).filter((f) => !(isObject(f) && f.manager === manager && f.operation === operation));
    list.push({ manager, operation, apiVersion: groupVersion(def), time: now(), fieldsType: 'FieldsV1', fieldsV1: {} });
    m.managedFields = list;
  }

  private commit(def: ResourceDef, prev: JsonObject, next: JsonObject, opts: WriteOptions): JsonObject {
    const pm = meta(prev);
    const nm = meta(next);
    // A body naming another object is refused, as kube-apiserver's rest.BeforeUpdate does.
    if (nm.name !== undefined && nm.name !== pm.name) throw new ApiError(400, 'BadRequest', `the name of the object (${String(nm.name)}) does not match the name on the URL (${String(pm.name)})`);
    if (def.namespaced && nm.namespace !== undefined && nm.namespace !== '' && nm.namespace !== pm.namespace) throw new ApiError(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request');
    if (nm.uid !== undefined && nm.uid !== '' && nm.uid !== pm.uid) {
      throw new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${def.plural}${def.group ? '.' + def.group : ''} "${String(pm.name)}": Precondition failed: UID in precondition: ${String(nm.uid)}, UID in object meta: ${String(pm.uid)}`, { name: String(pm.name), group: def.group, kind: def.plural });
    }
    // Server-owned metadata cannot be changed by a write.
    for (const k of ['name', 'namespace', 'uid', 'creationTimestamp', 'generation', 'deletionTimestamp', 'deletionGracePeriodSeconds']) {
      if (pm[k] === undefined) delete nm[k];
      else nm[k] = pm[k]!;
    }
    if (nm.managedFields === undefined && pm.managedFields !== undefined) nm.managedFields = pm.managedFields;
    let result: JsonObject;
    if (opts.subresource === 'status') {
      result = { ...clone(prev), ...(next.status !== undefined ? { status: next.status } : {}) };
      if (next.status === undefined) delete result.status;
      result.metadata = clone(pm);
    } else {
      result = next;
      keepAllocated(def, prev, result);
      applyBuiltinDefaults(def, result);
      const errors = immutableFieldErrors(def, prev, result);
      if (errors.length > 0) throw invalid(def, String(pm.name), errors);
      if (def.status) {
        if (prev.status !== undefined) result.status = clone(prev.status);
        else delete result.status;
      }
      if (!sameJson(specPart(prev), specPart(result))) nm.generation = (Number(pm.generation) || 0) + 1;
    }
    this.admit(def, result, opts, prev);
    opts.admission?.(def, prev, result);
    if (opts.fieldManager && !opts.applied) this.recordManager(def, result, opts.fieldManager, 'Update');
    // A no-op write keeps the resourceVersion and sends no watch event, as the real API server does.
    const strippedPrev = { ...prev, metadata: { ...pm, resourceVersion: undefined, managedFields: undefined } } as unknown as JsonObject;
    const strippedNext = { ...result, metadata: { ...meta(result), resourceVersion: undefined, managedFields: undefined }, apiVersion: prev.apiVersion, kind: prev.kind } as unknown as JsonObject;
    const key = this.key(def, pm.namespace as string | undefined, pm.name as string);
    if (sameJson(strippedPrev, strippedNext)) {
      const e = this.objects.get(key)!;
      if (meta(result).managedFields !== undefined) meta(e.obj).managedFields = meta(result).managedFields!;
      return this.decorate(def, e.obj);
    }
    this.rv++;
    meta(result).resourceVersion = String(this.rv);
    const stored = this.strip(result);
    // Deleting with finalizers left the object in place; the write that clears the last one deletes it (a
    // pod in its grace period stays until its kubelet confirms).
    if (pm.deletionTimestamp && !pm.deletionGracePeriodSeconds && !(Array.isArray(meta(stored).finalizers) && (meta(stored).finalizers as Json[]).length > 0)) {
      this.objects.set(key, { def, obj: stored });
      this.remove(def, stored);
      return this.decorate(def, stored);
    }
    this.objects.set(key, { def, obj: stored });
    this.afterWrite(def, stored, prev);
    this.emit('MODIFIED', def, stored);
    return this.decorate(def, stored);
  }

  /** apiVersion/kind are derived from where an object is stored, not stored with it. */
  private strip(obj: JsonObject): JsonObject {
    const { apiVersion: _a, kind: _k, ...rest } = obj;
    return sortKeys(rest);
  }

  /**
   * Decoding and schema validation of a write, in kube-apiserver's order and words: unknown fields (refused
   * by server-side apply and fieldValidation=Strict, else dropped with a warning), wrong types (400), then
   * schema violations (422).
   */
  private admit(def: ResourceDef, obj: JsonObject, opts: WriteOptions = {}, prev?: JsonObject): void {
    if (!def.schema && !isBuiltin(def)) return;
    const unknown: string[] = [];
    if (def.schema) unknownFields(obj, def.schema, '', unknown, true);
    const problems = def.schema ? undefined : decodeProblems(def, { ...obj, apiVersion: groupVersion(def), kind: def.kind });
    if (problems) unknown.push(...problems.unknown);
    if (unknown.length > 0) {
      if (opts.applied) {
        const fields = unknown.map((u) => `.${u}: field not declared in schema`);
        throw new ApiError(400, 'BadRequest', `failed to create typed patch object (${def.group}/${def.version}, Kind=${def.kind}): ${fields.length === 1 ? fields[0] : 'errors:\n  ' + fields.join('\n  ')}`);
      }
      if (opts.fieldValidation === 'Strict') {
        throw new ApiError(400, 'BadRequest', `${def.kind} in version "${def.version}" cannot be handled as a ${def.kind}: strict decoding error: ${unknown.map((u) => `unknown field "${u}"`).join(', ')}`);
      }
      if (opts.fieldValidation !== 'Ignore') opts.warnings?.push(...unknown.map((u) => `unknown field "${u}"`));
      if (problems) dropFields(obj, problems.unknown);
    }
    if (problems?.typeError) throw new ApiError(400, 'BadRequest', `${def.kind} in version "${def.version}" cannot be handled as a ${def.kind}: ${problems.typeError}`);
    const name = String(meta(obj).name);
    if (!def.schema) {
      const errors = schemaErrors(def, { ...obj, apiVersion: groupVersion(def), kind: def.kind });
      if (errors.length > 0) throw invalid(def, name, errors);
      return;
    }
    const errors = processCustomResource(obj, def.schema, prev);
    if (errors.length > 0) {
      throw new ApiError(422, 'Invalid', `${def.kind}.${def.group} "${name}" is invalid: ${errors.length === 1 ? errors[0] : '[' + errors.join(', ') + ']'}`, {
        name,
        group: def.group,
        kind: def.kind,
        causes: errors.map((message) => ({ message })),
      });
    }
  }

  /**
   * DELETE. Objects with finalizers stay, marked with deletionTimestamp, until the last finalizer goes. Pods
   * are deleted gracefully, as kube-apiserver's pod strategy does: a pod on a node gets deletionTimestamp
   * (now + grace) and deletionGracePeriodSeconds (the request's gracePeriodSeconds, else the pod's
   * terminationGracePeriodSeconds, else 30) and stays Terminating until its kubelet confirms with a delete of
   * gracePeriodSeconds=0; a delete with gracePeriodSeconds=0 (force), or of a pod never scheduled or already
   * finished, removes it at once. Preconditions (uid, resourceVersion) answer 409 when they do not hold.
   */
  delete(def: ResourceDef, ns: string | undefined, name: string, opts: DeleteOptions = {}): JsonObject {
    const key = this.key(def, ns, name);
    const e = this.objects.get(key);
    if (!e) throw this.notFound(def, name);
    const m = meta(e.obj);
    const pre = opts.preconditions ?? {};
    const conflict = (what: string, want: unknown, have: unknown) =>
      new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${def.plural}${def.group ? '.' + def.group : ''} "${name}": Precondition failed: ${what} in precondition: ${String(want)}, ${what} in object meta: ${String(have)}`, { name, group: def.group, kind: def.plural });
    if (pre.uid && pre.uid !== m.uid) throw conflict('UID', pre.uid, m.uid);
    if (pre.resourceVersion && pre.resourceVersion !== m.resourceVersion) throw conflict('ResourceVersion', pre.resourceVersion, m.resourceVersion);
    const hasFinalizers = Array.isArray(m.finalizers) && m.finalizers.length > 0;
    let grace = 0;
    if (def.group === '' && def.kind === 'Pod') {
      const spec = isObject(e.obj.spec) ? e.obj.spec : {};
      const phase = isObject(e.obj.status) ? e.obj.status.phase : undefined;
      const requested = opts.gracePeriodSeconds ?? (typeof spec.terminationGracePeriodSeconds === 'number' ? spec.terminationGracePeriodSeconds : 30);
      grace = !spec.nodeName || phase === 'Succeeded' || phase === 'Failed' ? 0 : Math.max(0, requested);
      // A second delete may shorten the grace period, never lengthen it.
      if (typeof m.deletionGracePeriodSeconds === 'number') grace = Math.min(grace, m.deletionGracePeriodSeconds);
    }
    if (grace > 0 || hasFinalizers) {
      if (!m.deletionTimestamp || m.deletionGracePeriodSeconds !== grace) {
        this.rv++;
        m.deletionTimestamp = new Date(Date.now() + grace * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
        m.deletionGracePeriodSeconds = grace;
        m.resourceVersion = String(this.rv);
        this.emit('MODIFIED', def, e.obj);
      }
      return this.decorate(def, e.obj);
    }
    this.remove(def, e.obj, opts.propagationPolicy === 'Orphan');
    return this.decorate(def, e.obj);
  }

  private remove(def: ResourceDef, obj: JsonObject, orphan = false): void {
    const m = meta(obj);
    this.objects.delete(this.key(def, m.namespace as string | undefined, m.name as string));
    for (const k of [...this.appliedByManager.keys()]) if (k.startsWith(`${m.uid}|`)) this.appliedByManager.delete(k);
    this.rv++;
    m.resourceVersion = String(this.rv);
    this.emit('DELETED', def, obj);
    if (def.kind === 'CustomResourceDefinition' && def.group === 'apiextensions.k8s.io') this.unregisterCrd(obj);
    // Background propagation, asynchronously like the real garbage collector: dependents go shortly after.
    if (!orphan && this.gcEnabled) setImmediate(() => this.collectGarbage());
    // Orphan: the garbage collector removes the owner reference from each dependent, which then lives on.
    if (orphan) this.orphanDependents(String(m.uid));
  }

  private orphanDependents(uid: string): void {
    for (const e of [...this.objects.values()]) {
      const m = meta(e.obj);
      const refs = m.ownerReferences;
      if (!Array.isArray(refs) || !refs.some((r) => isObject(r) && r.uid === uid)) continue;
      const kept = refs.filter((r) => !(isObject(r) && r.uid === uid));
      if (kept.length) m.ownerReferences = kept;
      else delete m.ownerReferences;
      this.rv++;
      m.resourceVersion = String(this.rv);
      this.emit('MODIFIED', e.def, e.obj);
    }
  }

  /** Deletes every object all of whose owners are gone. Foreground propagation is treated as background. */
  collectGarbage(): void {
    const uids = new Set<string>();
    for (const e of this.objects.values()) uids.add(String(meta(e.obj).uid));
    for (const e of [...this.objects.values()]) {
      const refs = meta(e.obj).ownerReferences;
      if (!Array.isArray(refs) || refs.length === 0) continue;
      if (refs.every((r) => isObject(r) && !uids.has(String(r.uid)))) {
        const m = meta(e.obj);
        if (this.objects.has(this.key(e.def, m.namespace as string | undefined, m.name as string))) {
          try {
            this.delete(e.def, m.namespace as string | undefined, m.name as string);
          } catch {
            /* already gone */
          }
        }
      }
    }
  }

  // ---- scale subresource ------------------------------------------------------------------------------------

  getScale(def: ResourceDef, ns: string | undefined, name: string): JsonObject {
    if (!def.scale) throw new ApiError(404, 'NotFound', `the server could not find the requested resource`);
    const obj = this.get(def, ns, name);
    const m = meta(obj);
    let selector = def.scale.labelSelectorPath ? evalJsonPath(obj, def.scale.labelSelectorPath) : undefined;
    if (selector === undefined && !def.schema) {
      const ml = evalJsonPath(obj, '.spec.selector.matchLabels');
      if (isObject(ml)) selector = Object.entries(ml).map(([k, v]) => `${k}=${v}`).join(',');
    }
    return {
      kind: 'Scale',
      apiVersion: 'autoscaling/v1',
      metadata: { name: m.name!, namespace: m.namespace ?? null, uid: m.uid!, resourceVersion: m.resourceVersion!, creationTimestamp: m.creationTimestamp! },
      spec: { replicas: (evalJsonPath(obj, def.scale.specReplicasPath) as number | undefined) ?? 0 },
      status: { replicas: (evalJsonPath(obj, def.scale.statusReplicasPath) as number | undefined) ?? 0, ...(typeof selector === 'string' ? { selector } : {}) },
    };
  }

  updateScale(def: ResourceDef, ns: string | undefined, name: string, scale: JsonObject): JsonObject {
    const current = this.getScale(def, ns, name);
    const rv = isObject(scale.metadata) ? scale.metadata.resourceVersion : undefined;
    if (rv && rv !== meta(current).resourceVersion) throw new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${def.plural}${def.group ? '.' + def.group : ''} "${name}": the object has been modified; please apply your changes to the latest version and try again`);
    const replicas = isObject(scale.spec) ? scale.spec.replicas : undefined;
    if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) throw new ApiError(422, 'Invalid', `Scale.autoscaling "${name}" is invalid: spec.replicas: Invalid value: ${JSON.stringify(replicas)}: must be greater than or equal to 0`);
    const obj = this.get(def, ns, name);
    setPath(obj, def.scale!.specReplicasPath, replicas);
    this.update(def, ns, name, obj);
    return this.getScale(def, ns, name);
  }

  patchScale(def: ResourceDef, ns: string | undefined, name: string, contentType: string, rawBody: string): JsonObject {
    const current = this.getScale(def, ns, name);
    const body = JSON.parse(rawBody) as Json;
    const next = contentType.startsWith('application/json-patch+json') ? jsonPatch(current, body as unknown as JsonPatchOp[]) : mergePatch(current, body);
    if (isObject(next) && isObject(next.metadata) && !(isObject(body) && isObject(body.metadata) && body.metadata.resourceVersion)) delete next.metadata.resourceVersion;
    return this.updateScale(def, ns, name, next as JsonObject);
  }

  // ---- CustomResourceDefinitions ----------------------------------------------------------------------------

  private afterWrite(def: ResourceDef, obj: JsonObject, _prev: JsonObject | undefined): void {
    if (def.kind === 'CustomResourceDefinition' && def.group === 'apiextensions.k8s.io') this.registerCrd(obj);
  }

  private crdDefs(crd: JsonObject): ResourceDef[] {
    const spec = crd.spec as JsonObject;
    const names = spec.names as JsonObject;
    return ((spec.versions as JsonObject[]) ?? [])
      .filter((v) => v.served !== false)
      .map((v) => {
        const sub = isObject(v.subresources) ? v.subresources : {};
        const scale = isObject(sub.scale) ? (sub.scale as unknown as ResourceDef['scale']) : undefined;
        const schema = isObject(v.schema) ? ((v.schema as JsonObject).openAPIV3Schema as unknown as JSONSchema) : undefined;
        return {
          group: String(spec.group),
          version: String(v.name),
          kind: String(names.kind),
          plural: String(names.plural),
          singular: String(names.singular ?? String(names.kind).toLowerCase()),
          namespaced: spec.scope !== 'Cluster',
          ...(Array.isArray(names.shortNames) ? { shortNames: names.shortNames as string[] } : {}),
          ...(Array.isArray(names.categories) ? { categories: names.categories as string[] } : {}),
          status: sub.status !== undefined,
          ...(scale ? { scale } : {}),
          ...(schema ? { schema } : {}),
          ...(Array.isArray(v.additionalPrinterColumns) ? { printerColumns: v.additionalPrinterColumns as unknown as PrinterColumn[] } : {}),
          crdName: String(meta(crd).name),
        };
      });
  }

  private registerCrd(crd: JsonObject): void {
    for (const old of this.resources().filter((d) => d.crdName === meta(crd).name)) this.unregister(old);
    for (const d of this.crdDefs(crd)) this.register(d);
    // The real apiextensions controller sets these asynchronously; kubectl waits for Established.
    const spec = crd.spec as JsonObject;
    const t = now();
    crd.status = {
      conditions: [
        { type: 'NamesAccepted', status: 'True', reason: 'NoConflicts', message: 'no conflicts found', lastTransitionTime: t },
        { type: 'Established', status: 'True', reason: 'InitialNamesAccepted', message: 'the initial names have been accepted', lastTransitionTime: t },
      ],
      acceptedNames: spec.names!,
      storedVersions: ((spec.versions as JsonObject[]) ?? []).filter((v) => v.storage).map((v) => v.name!),
    };
  }

  private unregisterCrd(crd: JsonObject): void {
    for (const d of this.resources().filter((r) => r.crdName === meta(crd).name)) {
      for (const e of [...this.objects.values()]) if (e.def === d) this.remove(d, e.obj);
      this.unregister(d);
    }
  }
}
