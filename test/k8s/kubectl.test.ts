/**
 * The real kubectl (/usr/bin/kubectl) against the API server double, with the operator running: the commands
 * a user types in the README. kubectl runs as a child process; the double and the operator share this
 * process, so kubectl is always run asynchronously (a synchronous exec would block the server it talks to).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually, ringOf, startEnv, stored, type Env } from './helpers.js';

const KUBECTL = process.env.KUBECTL ?? '/usr/bin/kubectl';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

let env: Env;
let dir: string;
let kubeconfig: string;

function kubectl(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve) => {
    execFile(
      KUBECTL,
      ['--kubeconfig', kubeconfig, '--cache-dir', join(dir, 'cache'), ...args],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir }, timeout: 30_000 },
      (err, stdout, stderr) => resolve({ stdout, stderr, code: err ? Number((err as { code?: number }).code ?? 1) : 0 }),
    );
  });
}

async function ok(...args: string[]): Promise<string> {
  const r = await kubectl(...args);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cachalot-kubectl-'));
  env = await startEnv();
  kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, env.api.kubeconfigYaml());
});

afterAll(async () => {
  await env?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('kubectl against the API server double', () => {
  it('kubectl apply -f crds/cachecluster.yaml registers the CRD', async () => {
    expect(await ok('apply', '-f', 'crds/cachecluster.yaml')).toContain('customresourcedefinition.apiextensions.k8s.io/cacheclusters.cachalot.io');
    expect(env.api.store.lookup('cachalot.io/v1alpha1', 'cacheclusters')).toBeDefined();
    await env.startOperator();
  });

  it('kubectl apply -f examples/cachecluster.yaml creates the cluster, and re-applying is a no-op', async () => {
    expect((await ok('apply', '-f', 'examples/cachecluster.yaml')).trim()).toBe('cachecluster.cachalot.io/web created');
    await eventually(() => stored(env, 'cachalot.io/v1alpha1', 'cacheclusters', 'default', 'web')?.status?.readyReplicas === 3, 'web ready');
    expect((await ok('apply', '-f', 'examples/cachecluster.yaml')).trim()).toBe('cachecluster.cachalot.io/web unchanged');
  });

  it('kubectl wait sees Ready, kubectl describe shows the operator\'s events, re-applying the CRD is unchanged', async () => {
    expect((await ok('wait', '--for=condition=Ready', 'cachecluster/web', '--timeout=20s')).trim()).toBe('cachecluster.cachalot.io/web condition met');
    const described = await ok('describe', 'cachecluster', 'web');
    expect(described).toMatch(/Normal\s+RingPublished\s+.*cachalot-operator\s+ring version 1: 3 active, 0 draining/);
    expect((await ok('apply', '-f', 'crds/cachecluster.yaml')).trim()).toBe('customresourcedefinition.apiextensions.k8s.io/cacheclusters.cachalot.io unchanged');
  });

  it('kubectl apply --server-side works too, with kubectl as the field manager', async () => {
    const file = join(dir, 'ssa.yaml');
    writeFileSync(file, 'apiVersion: cachalot.io/v1alpha1\nkind: CacheCluster\nmetadata:\n  name: ssa\nspec:\n  replicas: 1\n');
    expect((await ok('apply', '--server-side', '-f', file)).trim()).toBe('cachecluster.cachalot.io/ssa serverside-applied');
    await eventually(() => stored(env, 'cachalot.io/v1alpha1', 'cacheclusters', 'default', 'ssa')?.status?.readyReplicas === 1, 'ssa ready');
    const managers = stored(env, 'cachalot.io/v1alpha1', 'cacheclusters', 'default', 'ssa').metadata.managedFields.map((f: { manager: string }) => f.manager);
    expect(managers).toContain('kubectl');
    await ok('delete', '-f', file);
    await eventually(() => stored(env, 'apps/v1', 'statefulsets', 'default', 'ssa') === undefined, 'ssa children gone');
  });

  it('kubectl get cacheclusters prints the printer columns; the short name works', async () => {
    const out = await ok('get', 'cacheclusters');
    const [header, row] = out.trim().split('\n');
    expect(header!.split(/\s+/)).toEqual(['NAME', 'REPLICAS', 'READY', 'RING', 'AGE']);
    expect(row!.split(/\s+/).slice(0, 4)).toEqual(['web', '3', '3', '1']);
    expect(row!.split(/\s+/)[4]).toMatch(/^\d+s$/);
    const wide = await ok('get', 'cc', '-o', 'wide');
    expect(wide.split('\n')[0]!.split(/\s+/)).toEqual(['NAME', 'REPLICAS', 'READY', 'RING', 'STATUS', 'AGE']);
    expect(wide.split('\n')[1]!.split(/\s+/)[4]).toBe('True');
  });

  it('kubectl scale cachecluster/web --replicas=5 goes through the scale subresource to a 5-member ring', async () => {
    expect((await ok('scale', 'cachecluster/web', '--replicas=5')).trim()).toBe('cachecluster.cachalot.io/web scaled');
    await eventually(() => ringOf(env, 'web')?.members.length === 5 && stored(env, 'cachalot.io/v1alpha1', 'cacheclusters', 'default', 'web')?.status?.readyReplicas === 5, '5 members');
    expect(env.api.requests.some((r) => r.plural === 'cacheclusters' && r.subresource === 'scale' && (r.verb === 'patch' || r.verb === 'update'))).toBe(true);
    const row = (await ok('get', 'cacheclusters', 'web', '--no-headers')).trim().split(/\s+/);
    expect(row.slice(0, 4)).toEqual(['web', '5', '5', '2']);
  });

  it('kubectl shows the children and the ring, and rejects an invalid spec with the schema message', async () => {
    expect(await ok('get', 'statefulset', 'web', '-o', 'jsonpath={.spec.replicas}')).toBe('5');
    const ring = JSON.parse(await ok('get', 'configmap', 'web-ring', '-o', 'jsonpath={.data.ring\\.json}'));
    expect(ring).toMatchObject({ cluster: 'web', namespace: 'default', version: 2, hash: 'ketama-md5' });
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'apiVersion: cachalot.io/v1alpha1\nkind: CacheCluster\nmetadata:\n  name: bad\nspec:\n  replicas: -2\n');
    const r = await kubectl('apply', '-f', bad);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('spec.replicas in body should be greater than or equal to 0');
    // kubectl asks for server-side strict field validation: a misspelt field is an error, not silently pruned.
    writeFileSync(bad, 'apiVersion: cachalot.io/v1alpha1\nkind: CacheCluster\nmetadata:\n  name: typo\nspec:\n  replica: 2\n');
    const typo = await kubectl('apply', '-f', bad);
    expect(typo.code).not.toBe(0);
    expect(typo.stderr).toContain('strict decoding error: unknown field "spec.replica"');
  });

  it('kubectl get cacheclusters --watch streams rows as the operator updates status', async () => {
    const { spawn } = await import('node:child_process');
    const proc = spawn(KUBECTL, ['--kubeconfig', kubeconfig, '--cache-dir', join(dir, 'cache'), 'get', 'cacheclusters', '--watch', '--output-watch-events'], { env: { PATH: process.env.PATH ?? '', HOME: dir } });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await eventually(() => /ADDED\s+web\s+5\s+5\s+2/.test(out), 'initial row');
      await ok('scale', 'cc/web', '--replicas=6');
      await eventually(() => /MODIFIED\s+web\s+6\s+6\s+3/.test(out), 'row for 6 ready members at ring version 3');
    } finally {
      proc.kill('SIGKILL');
    }
    expect(out.split('\n')[0]!.split(/\s+/)).toEqual(['EVENT', 'NAME', 'REPLICAS', 'READY', 'RING', 'AGE']);
  });

  it('kubectl scale down drains first; kubectl patch ending the drain window shrinks the StatefulSet', async () => {
    // An hour-long drain window, so what is asserted below cannot depend on how fast this machine is.
    await ok('patch', 'cachecluster', 'web', '--type=merge', '-p', '{"spec":{"ring":{"drainSeconds":3600,"transitionSeconds":0}}}');
    expect((await ok('scale', 'cc/web', '--replicas=3')).trim()).toBe('cachecluster.cachalot.io/web scaled');
    await eventually(() => ringOf(env, 'web')?.members.filter((m: { state: string }) => m.state === 'draining').length === 3, 'draining members');
    expect(await ok('get', 'statefulset', 'web', '-o', 'jsonpath={.spec.replicas}')).toBe('6');
    expect(await ok('get', 'cc', 'web', '-o', 'jsonpath={.status.conditions[?(@.type=="Progressing")].reason}')).toBe('Draining');
    await ok('patch', 'cachecluster', 'web', '--type=merge', '-p', '{"spec":{"ring":{"drainSeconds":0}}}');
    await eventually(() => stored(env, 'apps/v1', 'statefulsets', 'default', 'web')?.spec.replicas === 3, 'shrunk');
    // What a HorizontalPodAutoscaler reads: the scale subresource, whose selector matches the pods.
    const scale = JSON.parse(await ok('get', '--raw', '/apis/cachalot.io/v1alpha1/namespaces/default/cacheclusters/web/scale'));
    expect(scale).toMatchObject({ kind: 'Scale', spec: { replicas: 3 } });
    const pods = (await ok('get', 'pods', '-l', scale.status.selector, '-o', 'name')).trim().split('\n');
    expect(pods).toHaveLength(3);
  });

  it('kubectl delete removes the cluster and, through garbage collection, its children', async () => {
    expect((await ok('delete', 'cachecluster', 'web')).trim()).toBe('cachecluster.cachalot.io "web" deleted');
    await eventually(() => stored(env, 'apps/v1', 'statefulsets', 'default', 'web') === undefined && stored(env, 'v1', 'configmaps', 'default', 'web-ring') === undefined, 'children gone');
  });
});
