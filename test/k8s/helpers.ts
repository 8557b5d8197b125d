/* eslint-disable @typescript-eslint/no-explicit-any */
/** Shared wiring for tests against the API server double: a started double, a KubeConfig for it, polling. */
import { readFileSync } from 'node:fs';
import { KubeConfig, KubernetesObjectApi, type KubernetesObject } from '@kubernetes/client-node';
import { WorkloadSimulator } from './apiserver/workloads.js';
import { Operator, type OperatorOptions } from '../../operator/src/operator.js';
import { createLogger } from '../../operator/src/log.js';
import { parse } from 'yaml';
import { ApiServerDouble, type ApiServerOptions } from './apiserver/index.js';
import { installChartRbac } from './chart.js';

export async function startDouble(opts: ApiServerOptions = {}): Promise<{ api: ApiServerDouble; kc: KubeConfig }> {
  const api = new ApiServerDouble(opts);
  await api.start();
  const kc = new KubeConfig();
  kc.loadFromString(api.kubeconfigYaml());
  return { api, kc };
}

export function loadCrd(): Record<string, unknown> {
  return parse(readFileSync(new URL('../../crds/cachecluster.yaml', import.meta.url), 'utf8')) as Record<string, unknown>;
}

/**
 * Installs crds/cachecluster.yaml over plain HTTP. Not through client-node: its V1JSONSchemaProps serializer
 * drops `default` and `enum` from a CRD schema (client-node 1.4), which would silently disable defaulting.
 */
export async function installCrd(url: string, crd: Record<string, unknown> = loadCrd()): Promise<void> {
  const r = await fetch(`${url}/apis/apiextensions.k8s.io/v1/customresourcedefinitions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(crd) });
  if (r.status !== 201 && r.status !== 409) throw new Error(`installing CRD: HTTP ${r.status} ${await r.text()}`);
}

/**
 * Polls `probe` until it returns a value other than undefined/false. Bounded in attempts and time; the
 * assertion that follows is on the state reached, never on how long it took.
 */
export async function eventually<T>(probe: () => T | undefined | false | Promise<T | undefined | false>, what: string, opts: { tries?: number; intervalMs?: number } = {}): Promise<T> {
  const tries = opts.tries ?? 800;
  const interval = opts.intervalMs ?? 25;
  let last: unknown;
  for (let i = 0; i < tries; i++) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, interval));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

export function errorCode(err: unknown): number | undefined {
  return (err as { code?: number }).code;
}

// ---- operator fixtures --------------------------------------------------------------------------------------


export interface Env {
  api: ApiServerDouble;
  kc: KubeConfig;
  sim: WorkloadSimulator;
  objects: KubernetesObjectApi;
  operators: Operator[];
  /** The chart's ServiceAccount (`system:serviceaccount:default:cachalot-cachalot-operator`), which operators run as. */
  operatorUser: string;
  /** Starts an operator authenticated as the chart's ServiceAccount: RBAC allows it only what the chart grants. */
  startOperator(opts?: OperatorOptions): Promise<Operator>;
  stop(): Promise<void>;
}

/** The double with the CRD installed, a workload simulator, and operators started on demand. */
export async function startEnv(opts: ApiServerOptions = { bookmarkIntervalMs: 200 }): Promise<Env> {
  const { api, kc } = await startDouble(opts);
  await installCrd(api.url);
  const operator = await installChartRbac(api);
  const opKc = new KubeConfig();
  opKc.loadFromString(api.kubeconfigYaml('default', operator.token));
  const sim = new WorkloadSimulator(api.store).start();
  const operators: Operator[] = [];
  const env: Env = {
    api,
    kc,
    sim,
    objects: KubernetesObjectApi.makeApiClient(kc),
    operators,
    operatorUser: operator.user.name,
    async startOperator(o: OperatorOptions = {}) {
      const op = new Operator(opKc, {
        leaderElection: false,
        log: createLogger(process.env.CACHALOT_OPERATOR_LOG_LEVEL ?? 'silent'),
        ...o,
        controller: { queue: { baseDelayMs: 20, maxDelayMs: 1000 }, stallTimeoutMs: 5000, ...o.controller },
      });
      operators.push(op);
      await op.start();
      return op;
    },
    async stop() {
      for (const op of operators) await op.stop();
      sim.stop();
      await api.stop();
    },
  };
  return env;
}

export type Obj = KubernetesObject & { spec?: any; status?: any; data?: Record<string, string> };

export function cacheCluster(name: string, spec: Record<string, unknown> = {}, namespace = 'default'): Obj {
  return { apiVersion: 'cachalot.io/v1alpha1', kind: 'CacheCluster', metadata: { name, namespace }, spec };
}

/** Reads straight from the double's store: assertions never depend on the operator's caches. */
export function stored(env: Env, apiVersion: string, plural: string, namespace: string | undefined, name: string): any {
  const def = env.api.store.lookup(apiVersion, plural);
  if (!def) throw new Error(`no resource ${apiVersion}/${plural}`);
  return env.api.store.tryGet(def, namespace, name);
}

export function storedList(env: Env, apiVersion: string, plural: string, namespace?: string): any[] {
  return env.api.store.list(env.api.store.lookup(apiVersion, plural)!, namespace).items;
}

export function condition(cc: any, type: string): any {
  return cc?.status?.conditions?.find((c: { type: string }) => c.type === type);
}

export function ringOf(env: Env, name: string, namespace = 'default'): any {
  const cm = stored(env, 'v1', 'configmaps', namespace, `${name}-ring`);
  return cm ? JSON.parse(cm.data['ring.json']) : undefined;
}

export async function metricValue(op: Operator, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = await op.metrics.registry.getSingleMetric(name)?.get();
  if (!m) return 0;
  return m.values.filter((v) => Object.entries(labels).every(([k, val]) => (v.labels as Record<string, unknown>)[k] === val)).reduce((a, v) => a + v.value, 0);
}

export async function patchMerge(url: string, path: string, body: unknown): Promise<any> {
  const r = await fetch(`${url}${path}`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: JSON.stringify(body) });
  const json = await r.json();
  if (r.status >= 300) throw Object.assign(new Error(`PATCH ${path}: ${r.status} ${JSON.stringify(json)}`), { code: r.status });
  return json;
}
