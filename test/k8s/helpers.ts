/** Shared wiring for tests against the API server double: a started double, a KubeConfig for it, polling. */
import { readFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { ApiServerDouble, type ApiServerOptions } from './apiserver/index.js';

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
  const tries = opts.tries ?? 400;
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
