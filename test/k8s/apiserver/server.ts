/**
 * HTTP front of the API server double: URL routing in the Kubernetes REST layout, discovery (legacy
 * APIGroupList/APIResourceList, which kubectl falls back to when aggregated discovery is not offered),
 * Table output for `kubectl get`, chunked watch streams with optional bookmarks, and fault injection.
 *
 * Requests are authenticated by bearer token (issueToken; no token is the test's cluster-admin), authorized
 * by RBAC from the roles and bindings stored in the double (rbac.ts), and admitted through
 * OwnerReferencesPermissionEnforcement (admission.ts).
 *
 * This is a TEST DOUBLE, not an API server: no admission webhooks, protobuf, pagination (limit is ignored,
 * everything is one page) or field-level ownership. See README.md next to this file.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { evalJsonPath } from './jsonpath.js';
import { isObject, type Json, type JsonObject } from './patch.js';
import { groupVersion, VERBS, type ResourceDef } from './resources.js';
import { ApiError, meta, parseFieldSelector, parseLabelSelector, Store, type DeleteOptions, type StoreEvent, type WriteOptions } from './store.js';
import { ADMIN, Authorizer, rbacEscalation, serviceAccountUser, type Attributes, type UserInfo } from './rbac.js';
import { ownerReferencesPermission } from './admission.js';

export interface RequestInfo {
  method: string;
  verb: 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'discovery';
  group?: string;
  version?: string;
  plural?: string;
  namespace?: string;
  name?: string;
  subresource?: string;
  contentType?: string;
  fieldManager?: string;
  /** The authenticated user name (`kubernetes-admin` for a request without a bearer token). */
  user?: string;
  path: string;
  query: string;
}

export interface Fault {
  /** Which requests fail. */
  match: (r: RequestInfo) => boolean;
  status: number;
  reason?: string;
  message?: string;
  /** How many matching requests fail before the fault disarms itself. */
  times: number;
  hits?: number;
}

interface Watcher {
  def: ResourceDef;
  namespace?: string;
  selector: (labels: Record<string, string>) => boolean;
  fieldSelector: (o: JsonObject) => boolean;
  res: ServerResponse;
  stalled: boolean;
  bookmarks: boolean;
  lastRv: number;
  timer?: NodeJS.Timeout;
  bookmarkTimer?: NodeJS.Timeout;
  /** `kubectl get -w`: every event's object is a one-row Table (Accept: ...;as=Table). */
  asTable: boolean;
}

export interface ApiServerOptions {
  /** Interval of BOOKMARK events on watches that asked for them (allowWatchBookmarks). */
  bookmarkIntervalMs?: number;
  historyLimit?: number;
}

export class ApiServerDouble {
  readonly store: Store;
  private server?: Server;
  private readonly watchers = new Set<Watcher>();
  private readonly faults: Fault[] = [];
  readonly requests: RequestInfo[] = [];
  private readonly bookmarkIntervalMs: number;
  private readonly tokens = new Map<string, UserInfo>();
  readonly authorizer: Authorizer;
  url = '';

  constructor(opts: ApiServerOptions = {}) {
    this.store = new Store(opts.historyLimit !== undefined ? { historyLimit: opts.historyLimit } : {});
    this.bookmarkIntervalMs = opts.bookmarkIntervalMs ?? 1000;
    this.store.listeners.add((ev) => this.fanOut(ev));
    this.authorizer = new Authorizer(this.store);
  }

  /** A bearer token that authenticates as `user` (what a ServiceAccount token or a client certificate does). */
  issueToken(user: UserInfo): string {
    const token = `double-${randomUUID()}`;
    this.tokens.set(token, user);
    return token;
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err) => this.fail(res, err));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    for (const w of this.watchers) this.endWatch(w, true);
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }

  /** A kubeconfig (YAML) pointing at this server over plain HTTP. */
  kubeconfigYaml(namespace = 'default', token?: string): string {
    return [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: double',
      '  cluster:',
      `    server: ${this.url}`,
      // client-node refuses plain http unless TLS verification is (vacuously) switched off.
      '    insecure-skip-tls-verify: true',
      'users:',
      '- name: tester',
      token ? `  user:\n    token: ${token}` : '  user: {}',
      'contexts:',
      '- name: double',
      '  context:',
      '    cluster: double',
      '    user: tester',
      `    namespace: ${namespace}`,
      'current-context: double',
      '',
    ].join('\n');
  }

  // ---- fault injection ----------------------------------------------------------------------------------------

  injectFault(f: Fault): Fault {
    f.hits = 0;
    this.faults.push(f);
    return f;
  }

  clearFaults(): void {
    this.faults.length = 0;
  }

  /** Cuts every open watch connection mid-stream (the client sees the stream end / a socket error). */
  breakWatches(filter: (plural: string) => boolean = () => true): number {
    let n = 0;
    for (const w of [...this.watchers]) {
      if (!filter(w.def.plural)) continue;
      this.endWatch(w, false);
      w.res.socket?.destroy();
      n++;
    }
    return n;
  }

  /** Open watches stay connected but receive nothing more, not even bookmarks: a stalled watch. */
  stallWatches(filter: (plural: string) => boolean = () => true): number {
    let n = 0;
    for (const w of this.watchers) {
      if (!filter(w.def.plural)) continue;
      w.stalled = true;
      n++;
    }
    return n;
  }

  activeWatches(plural?: string): number {
    return [...this.watchers].filter((w) => !w.stalled && (!plural || w.def.plural === plural)).length;
  }

  // ---- HTTP --------------------------------------------------------------------------------------------------

  private send(res: ServerResponse, code: number, body: unknown, warnings: string[] = []): void {
    const text = JSON.stringify(body);
    // RFC 7234 warn-code 299 with an empty agent, as kube-apiserver sends them; kubectl prints each one.
    const warning = warnings.length ? { Warning: warnings.map((w) => `299 - ${JSON.stringify(w)}`) } : {};
    res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...warning });
    res.end(text);
  }

  private fail(res: ServerResponse, err: unknown): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const e = err instanceof ApiError ? err : new ApiError(500, 'InternalError', (err as Error).message ?? String(err));
    this.send(res, e.code, e.toStatus());
  }

  private async body(req: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }

  private parse(req: IncomingMessage, url: URL): { info: RequestInfo; def?: ResourceDef } {
    const parts = url.pathname.split('/').filter(Boolean);
    const method = req.method ?? 'GET';
    const contentType = req.headers['content-type'];
    const fieldManager = url.searchParams.get('fieldManager') ?? undefined;
    const base = { method, path: url.pathname, query: url.search, ...(contentType ? { contentType } : {}), ...(fieldManager ? { fieldManager } : {}) };
    let gv: string;
    let group: string;
    let version: string;
    let rest: string[];
    if (parts[0] === 'api' && parts.length >= 2) {
      group = '';
      version = parts[1]!;
      gv = version;
      rest = parts.slice(2);
    } else if (parts[0] === 'apis' && parts.length >= 3) {
      group = parts[1]!;
      version = parts[2]!;
      gv = `${group}/${version}`;
      rest = parts.slice(3);
    } else return { info: { ...base, verb: 'discovery' } };
    if (rest.length === 0) return { info: { ...base, verb: 'discovery', group, version } };
    let namespace: string | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3 && this.store.lookup(gv, rest[2]!)?.namespaced) {
      namespace = rest[1];
      rest = rest.slice(2);
    }
    const [plural, name, subresource] = rest as [string, string?, string?];
    const def = this.store.lookup(gv, plural);
    if (!def) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    const watch = url.searchParams.get('watch');
    const verb: RequestInfo['verb'] =
      method === 'GET' ? (watch === 'true' || watch === '1' ? 'watch' : name ? 'get' : 'list') : method === 'POST' ? 'create' : method === 'PUT' ? 'update' : method === 'PATCH' ? 'patch' : 'delete';
    return {
      info: { ...base, verb, group, version, plural, ...(namespace ? { namespace } : {}), ...(name ? { name } : {}), ...(subresource ? { subresource } : {}) },
      def,
    };
  }

  /**
   * The requester; 401 for a token nobody issued. `Impersonate-User` (kubectl --as, the way kubectl acts as
   * another identity here: client-go sends no bearer token over plain http) is honoured for requesters
   * allowed to `impersonate` users or that ServiceAccount.
   */
  private authenticate(req: IncomingMessage): UserInfo {
    const auth = req.headers.authorization;
    let user: UserInfo | undefined = ADMIN;
    if (auth) user = auth.startsWith('Bearer ') ? this.tokens.get(auth.slice(7)) : undefined;
    if (!user) throw new ApiError(401, 'Unauthorized', 'Unauthorized');
    const as = req.headers['impersonate-user'];
    if (typeof as !== 'string' || !as) return user;
    const sa = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(as);
    const target = sa ? { resource: 'serviceaccounts', namespace: sa[1]!, name: sa[2]! } : { resource: 'users', name: as };
    const attrs: Attributes = { user, verb: 'impersonate', group: '', ...target };
    this.authorizer.check(attrs);
    const extra = req.headers['impersonate-group'];
    const groups = (Array.isArray(extra) ? extra : extra ? [extra] : []).flatMap((g) => g.split(',').map((x) => x.trim()));
    return sa ? { name: as, groups: [...serviceAccountUser(sa[1]!, sa[2]!).groups, ...groups] } : { name: as, groups: [...groups, 'system:authenticated'] };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://double');
    const user = this.authenticate(req);
    const { info, def } = this.parse(req, url);
    info.user = user.name;
    this.requests.push(info);
    if (this.requests.length > 5000) this.requests.splice(0, 1000);
    for (const f of this.faults) {
      if ((f.hits ?? 0) < f.times && f.match(info)) {
        f.hits = (f.hits ?? 0) + 1;
        await this.body(req);
        throw new ApiError(f.status, f.reason ?? 'InjectedFault', f.message ?? `injected fault ${f.status}`);
      }
    }
    if (info.verb === 'discovery') return this.discovery(url, res);
    const d = def!;
    const q = url.searchParams;
    const ns = info.namespace;
    // kube-apiserver's RequestInfoFactory authorizes a list or watch whose field selector requires
    // `metadata.name=X` as a request for object X, so a Role's resourceNames can grant watching one object.
    const name = info.name ?? (info.verb === 'list' || info.verb === 'watch' ? exactNameInFieldSelector(q.get('fieldSelector')) : undefined);
    const attrs: Attributes = { user, verb: info.verb, group: d.group, resource: d.plural, ...(info.subresource ? { subresource: info.subresource } : {}), ...(ns && d.namespaced ? { namespace: ns } : {}), ...(name ? { name } : {}) };
    this.authorizer.check(attrs);
    const admission: WriteOptions['admission'] = (def, prev, next) => {
      ownerReferencesPermission(this.store, this.authorizer, user, def, info.subresource, prev, next);
      rbacEscalation(this.store, this.authorizer, user, def, next);
    };
    const wantsTable = (req.headers.accept ?? '').includes('as=Table');
    const fv = q.get('fieldValidation');
    const warnings: string[] = [];
    const validation = { ...(fv ? { fieldValidation: fv } : {}), admission, warnings };
    switch (info.verb) {
      case 'get': {
        if (info.subresource === 'scale') return this.send(res, 200, this.store.getScale(d, ns, info.name!));
        const obj = this.store.get(d, ns, info.name!);
        return this.send(res, 200, wantsTable ? this.table(d, [obj], String(meta(obj).resourceVersion)) : obj);
      }
      case 'list': {
        const l = this.store.list(d, ns, q.get('labelSelector') ?? undefined, q.get('fieldSelector') ?? undefined);
        if (wantsTable) return this.send(res, 200, this.table(d, l.items, l.resourceVersion));
        return this.send(res, 200, { kind: `${d.kind}List`, apiVersion: groupVersion(d), metadata: { resourceVersion: l.resourceVersion }, items: l.items });
      }
      case 'watch':
        return this.watch(d, ns, q, res, wantsTable);
      case 'create': {
        const body = JSON.parse(await this.body(req)) as JsonObject;
        if (info.subresource === 'token' && d.plural === 'serviceaccounts') return this.send(res, 201, this.tokenRequest(ns!, info.name!, body));
        return this.send(res, 201, this.store.create(d, ns, body, { ...(info.fieldManager ? { fieldManager: info.fieldManager } : {}), ...validation }), warnings);
      }
      case 'update': {
        const body = JSON.parse(await this.body(req)) as JsonObject;
        if (info.subresource === 'scale') return this.send(res, 200, this.store.updateScale(d, ns, info.name!, body));
        if (info.subresource && info.subresource !== 'status') throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
        if (info.subresource === 'status' && !d.status) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
        return this.send(res, 200, this.store.update(d, ns, info.name!, body, { ...(info.subresource ? { subresource: info.subresource } : {}), ...(info.fieldManager ? { fieldManager: info.fieldManager } : {}), ...validation }), warnings);
      }
      case 'patch': {
        const raw = await this.body(req);
        const ct = info.contentType ?? 'application/merge-patch+json';
        if (info.subresource === 'scale') return this.send(res, 200, this.store.patchScale(d, ns, info.name!, ct, raw));
        const opts = { ...(info.subresource ? { subresource: info.subresource } : {}), ...(info.fieldManager ? { fieldManager: info.fieldManager } : {}), force: q.get('force') === 'true', ...validation };
        const existed = this.store.tryGet(d, ns, info.name!) !== undefined;
        // Server-side apply of an object that does not exist yet creates it, and needs `create` as well.
        if (!existed && ct.startsWith('application/apply-patch')) this.authorizer.check({ ...attrs, verb: 'create' });
        const out = this.store.patch(d, ns, info.name!, ct, raw, opts);
        return this.send(res, existed ? 200 : 201, out, warnings);
      }
      case 'delete': {
        const raw = await this.body(req);
        const opts: DeleteOptions = {};
        const policy = q.get('propagationPolicy');
        if (policy) opts.propagationPolicy = policy;
        const grace = q.get('gracePeriodSeconds');
        if (grace !== null && grace !== '') opts.gracePeriodSeconds = Number(grace);
        if (raw) {
          try {
            const b = JSON.parse(raw) as JsonObject;
            if (typeof b.propagationPolicy === 'string') opts.propagationPolicy = b.propagationPolicy;
            if (typeof b.gracePeriodSeconds === 'number') opts.gracePeriodSeconds = b.gracePeriodSeconds;
            if (isObject(b.preconditions)) opts.preconditions = b.preconditions as DeleteOptions['preconditions'] & object;
          } catch {
            /* DeleteOptions are optional */
          }
        }
        return this.send(res, 200, this.store.delete(d, ns, info.name!, opts));
      }
    }
  }

  // ---- discovery ---------------------------------------------------------------------------------------------

  private discovery(url: URL, res: ServerResponse): void {
    const p = url.pathname.replace(/\/+$/, '');
    const defs = this.store.resources();
    if (p === '/version') return this.send(res, 200, { major: '1', minor: '32', gitVersion: 'v1.32.0-cachalot-apiserver-double', platform: 'linux/amd64' });
    if (p === '/healthz' || p === '/readyz' || p === '/livez') {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end('ok');
      return;
    }
    if (p === '/openapi/v3' || p.startsWith('/openapi/v3/')) return this.openapi(p, res);
    if (p === '/api') return this.send(res, 200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: new URL(this.url).host }] });
    if (p === '/apis') {
      const groups = new Map<string, string[]>();
      for (const d of defs) if (d.group) groups.set(d.group, [...new Set([...(groups.get(d.group) ?? []), d.version])]);
      return this.send(res, 200, {
        kind: 'APIGroupList',
        apiVersion: 'v1',
        groups: [...groups].map(([name, versions]) => ({
          name,
          versions: versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v })),
          preferredVersion: { groupVersion: `${name}/${versions[0]}`, version: versions[0] },
        })),
      });
    }
    const m = /^\/api\/(v1)$|^\/apis\/([^/]+)\/([^/]+)$|^\/apis\/([^/]+)$/.exec(p);
    if (m && m[4]) {
      const versions = [...new Set(defs.filter((d) => d.group === m[4]).map((d) => d.version))];
      if (versions.length === 0) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
      return this.send(res, 200, { kind: 'APIGroup', apiVersion: 'v1', name: m[4], versions: versions.map((v) => ({ groupVersion: `${m[4]}/${v}`, version: v })), preferredVersion: { groupVersion: `${m[4]}/${versions[0]}`, version: versions[0] } });
    }
    if (m) {
      const group = m[1] ? '' : m[2]!;
      const version = m[1] ?? m[3]!;
      const here = defs.filter((d) => d.group === group && d.version === version);
      if (here.length === 0) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
      const resources: JsonObject[] = [];
      for (const d of here) {
        resources.push({
          name: d.plural,
          singularName: d.singular,
          namespaced: d.namespaced,
          kind: d.kind,
          verbs: VERBS,
          ...(d.shortNames ? { shortNames: d.shortNames } : {}),
          ...(d.categories ? { categories: d.categories } : {}),
        });
        if (d.status) resources.push({ name: `${d.plural}/status`, singularName: '', namespaced: d.namespaced, kind: d.kind, verbs: ['get', 'patch', 'update'] });
        if (d.scale) resources.push({ name: `${d.plural}/scale`, singularName: '', namespaced: d.namespaced, group: 'autoscaling', version: 'v1', kind: 'Scale', verbs: ['get', 'patch', 'update'] });
      }
      return this.send(res, 200, { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group ? `${group}/${version}` : version, resources });
    }
    throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
  }

  // ---- OpenAPI v3 --------------------------------------------------------------------------------------------

  /**
   * Just enough OpenAPI v3 for kubectl: one document per group-version whose PATCH operations carry
   * x-kubernetes-group-version-kind and the `fieldValidation` query parameter, which is how kubectl decides
   * to validate on the server (fieldValidation=Strict) instead of downloading schemas to validate itself.
   * Schemas are not served; kubectl's client-side apply of custom resources does not need them.
   */
  private openapi(p: string, res: ServerResponse): void {
    const gvs = new Map<string, ResourceDef[]>();
    for (const d of this.store.resources()) {
      const key = d.group ? `apis/${d.group}/${d.version}` : `api/${d.version}`;
      gvs.set(key, [...(gvs.get(key) ?? []), d]);
    }
    if (p === '/openapi/v3') {
      return this.send(res, 200, { paths: Object.fromEntries([...gvs.keys()].map((k) => [k, { serverRelativeURL: `/openapi/v3/${k}?hash=${this.store.resourceVersion}` }])) });
    }
    const defs = gvs.get(p.slice('/openapi/v3/'.length));
    if (!defs) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    const paths: Record<string, Json> = {};
    for (const d of defs) {
      const prefix = d.group ? `/apis/${d.group}/${d.version}` : `/api/${d.version}`;
      const path = d.namespaced ? `${prefix}/namespaces/{namespace}/${d.plural}/{name}` : `${prefix}/${d.plural}/{name}`;
      paths[path] = {
        patch: {
          'x-kubernetes-group-version-kind': { group: d.group, version: d.version, kind: d.kind },
          parameters: ['fieldValidation', 'fieldManager', 'dryRun', 'force'].map((name) => ({ name, in: 'query', schema: { type: name === 'force' ? 'boolean' : 'string' } })),
          responses: { '200': { description: 'OK' } },
        },
      };
    }
    return this.send(res, 200, { openapi: '3.0.0', info: { title: 'Kubernetes API server double', version: 'v1.32.0' }, paths, components: { schemas: {} } });
  }

  // ---- Table output ------------------------------------------------------------------------------------------

  private table(def: ResourceDef, items: JsonObject[], resourceVersion: string): JsonObject {
    const cols = (def.printerColumns ?? [{ name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' }]).map((c) => ({ ...c }));
    const columnDefinitions: Json[] = [
      { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 },
      ...cols.map((c) => ({ name: c.name, type: c.type, format: c.format ?? '', description: c.description ?? '', priority: c.priority ?? 0 })),
    ];
    const rows = items.map((o) => ({
      cells: [
        meta(o).name ?? null,
        ...cols.map((c) => {
          const v = evalJsonPath(o, c.jsonPath);
          if (v === undefined) return null;
          if (c.type === 'date' && typeof v === 'string') return age(v);
          return v;
        }),
      ] as Json[],
      object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: meta(o) },
    }));
    return { kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata: { resourceVersion }, columnDefinitions, rows };
  }

  // ---- watch -------------------------------------------------------------------------------------------------

  private watch(def: ResourceDef, ns: string | undefined, q: URLSearchParams, res: ServerResponse, asTable = false): void {
    const rvParam = q.get('resourceVersion');
    let backlog: StoreEvent[] = [];
    let initial: JsonObject[] = [];
    const selector = parseLabelSelector(q.get('labelSelector') ?? undefined);
    const fieldSelector = parseFieldSelector(q.get('fieldSelector') ?? undefined);
    const w: Watcher = { def, ...(ns ? { namespace: ns } : {}), selector, fieldSelector, res, stalled: false, bookmarks: q.get('allowWatchBookmarks') === 'true', lastRv: this.store.resourceVersion, asTable };
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    // A real API server answers a watch at once; Node would hold the headers until the first event, and
    // client-node's informer start() awaits them.
    res.flushHeaders();
    if (!rvParam || rvParam === '0') {
      initial = this.store.list(def, ns, q.get('labelSelector') ?? undefined, q.get('fieldSelector') ?? undefined).items;
    } else {
      try {
        backlog = this.store.eventsSince(Number(rvParam));
      } catch (err) {
        // A too-old resourceVersion is reported in-stream, as the real API server does after a compaction.
        res.end(JSON.stringify({ type: 'ERROR', object: (err as ApiError).toStatus() }) + '\n');
        return;
      }
    }
    for (const o of initial) res.write(JSON.stringify({ type: 'ADDED', object: w.asTable ? this.table(def, [o], String(meta(o).resourceVersion)) : o }) + '\n');
    for (const ev of backlog) this.deliver(w, ev);
    this.watchers.add(w);
    const timeout = Number(q.get('timeoutSeconds') ?? 0);
    if (timeout > 0) w.timer = setTimeout(() => this.endWatch(w, true), timeout * 1000);
    if (w.bookmarks) {
      w.bookmarkTimer = setInterval(() => {
        if (w.stalled) return;
        const rv = String(this.store.resourceVersion);
        res.write(JSON.stringify({ type: 'BOOKMARK', object: { kind: def.kind, apiVersion: groupVersion(def), metadata: { resourceVersion: rv } } }) + '\n');
      }, this.bookmarkIntervalMs);
    }
    res.on('close', () => this.endWatch(w, false));
  }

  private endWatch(w: Watcher, graceful: boolean): void {
    if (w.timer) clearTimeout(w.timer);
    if (w.bookmarkTimer) clearInterval(w.bookmarkTimer);
    this.watchers.delete(w);
    if (graceful && !w.res.writableEnded) w.res.end();
  }

  private deliver(w: Watcher, ev: StoreEvent): void {
    if (ev.def !== w.def) return;
    const m = meta(ev.object);
    if (w.namespace && m.namespace !== w.namespace) return;
    const labels = isObject(m.labels) ? (m.labels as Record<string, string>) : {};
    if (!w.selector(labels) || !w.fieldSelector(ev.object)) return;
    const object = w.asTable ? this.table(w.def, [ev.object], String(m.resourceVersion)) : ev.object;
    w.res.write(JSON.stringify({ type: ev.type, object }) + '\n');
  }

  /**
   * TokenRequest (`create serviceaccounts/token`), what a kubelet calls to put a ServiceAccount token into a
   * pod: 404 for an account that does not exist, else a token that authenticates as that account. Tokens do
   * not expire and are not bound to the pod (kube-apiserver's bound tokens are); expirationTimestamp is
   * reported as requested.
   */
  private tokenRequest(namespace: string, name: string, body: JsonObject): JsonObject {
    const sa = this.store.get(this.store.lookup('v1', 'serviceaccounts')!, namespace, name);
    const spec = isObject(body.spec) ? body.spec : {};
    const seconds = typeof spec.expirationSeconds === 'number' ? spec.expirationSeconds : 3600;
    return {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      metadata: { name, namespace, creationTimestamp: null, uid: meta(sa).uid as string },
      spec: { audiences: Array.isArray(spec.audiences) ? spec.audiences : [], expirationSeconds: seconds, ...(isObject(spec.boundObjectRef) ? { boundObjectRef: spec.boundObjectRef } : {}) },
      status: { token: this.issueToken(serviceAccountUser(namespace, name)), expirationTimestamp: new Date(Date.now() + seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z') },
    };
  }

  private fanOut(ev: StoreEvent): void {
    for (const w of this.watchers) if (!w.stalled) this.deliver(w, ev);
  }
}

/** kubectl's HumanDuration, which the real API server uses for `date` printer columns. */
export function age(timestamp: string, nowMs = Date.now()): string {
  const s = Math.max(0, Math.floor((nowMs - Date.parse(timestamp)) / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

/**
 * The object a field selector pins by name (`metadata.name=X` or `==`, alone or among other terms), as
 * apimachinery's RequiresExactMatch finds it; undefined when there is none or it is not a valid path segment.
 */
export function exactNameInFieldSelector(text: string | null): string | undefined {
  if (!text) return undefined;
  for (const term of text.split(',')) {
    const m = /^\s*metadata\.name\s*==?\s*(.*?)\s*$/.exec(term);
    if (m && !term.includes('!=') && m[1] !== '' && m[1] !== '.' && m[1] !== '..' && !/[/%]/.test(m[1]!)) return m[1];
  }
  return undefined;
}
