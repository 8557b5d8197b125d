/**
 * The README's kind quickstart, checked command by command against what it refers to: every image it builds
 * is tagged, from a Dockerfile target that exists, loaded into kind, and is the image the chart, the CRD and
 * the examples use; every file it names exists; the kind cluster has a node for each server of the example.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import { DEFAULTS } from '../../../operator/src/api/types.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const read = (f: string) => readFileSync(join(ROOT, f), 'utf8');
const readme = read('README.md');
const section = readme.slice(readme.indexOf('### Quickstart on kind'));
const commands = /```sh\n([\s\S]*?)```/.exec(section)![1]!.trim().split('\n');
const stages = new Set([...read('Dockerfile').matchAll(/^FROM \S+ AS (\S+)$/gm)].map((m) => m[1]));

function flag(cmd: string, name: string): string[] {
  return [...cmd.matchAll(new RegExp(`${name}[ =](\\S+)`, 'g'))].map((m) => m[1]!);
}

describe('README quickstart on kind', () => {
  const builds = commands.filter((c) => c.startsWith('docker build'));
  const built = new Map(builds.map((c) => [flag(c, '--target')[0]!, flag(c, '-t')[0]!]));

  it('builds the three images from existing Dockerfile targets, each tagged', () => {
    expect([...built.keys()].sort()).toEqual(['operator', 'server', 'sidecar']);
    for (const [target, tag] of built) {
      expect(stages).toContain(target);
      expect(tag).toMatch(/^cachalot\/cachalot-[a-z]+:\d+\.\d+\.\d+$/);
    }
    // Nowhere in the docs is an image built without a tag.
    for (const doc of ['README.md', 'docs/operator.md', 'charts/cachalot-operator/README.md']) {
      for (const line of read(doc).split('\n').filter((l) => l.includes('docker build'))) expect(line).toMatch(/ -t \S+/);
    }
  });

  it('loads every built image into the kind cluster it creates', () => {
    const create = commands.find((c) => c.startsWith('kind create cluster'))!;
    const load = commands.find((c) => c.startsWith('kind load docker-image'))!;
    expect(flag(load, '--name')).toEqual(flag(create, '--name'));
    const images = load.split(' ').slice(3).filter((w) => !w.startsWith('--') && w !== flag(load, '--name')[0]);
    expect(images.sort()).toEqual([...built.values()].sort());
  });

  it('the images are the ones the chart, the CRD and the examples use', () => {
    const install = commands.find((c) => c.startsWith('helm install'))!;
    const sets = Object.fromEntries(flag(install, '--set').map((s) => s.split('=') as [string, string]));
    const operatorImage = `${sets['image.repository']}:${sets['image.tag']}`;
    expect(operatorImage).toBe(built.get('operator'));
    const values = parse(read('charts/cachalot-operator/values.yaml'));
    const chart = parse(read('charts/cachalot-operator/Chart.yaml'));
    // The chart's defaults are the same image, so the --set flags only make it explicit.
    expect(`${values.image.repository}:${values.image.tag || chart.appVersion}`).toBe(operatorImage);
    expect(DEFAULTS.image).toBe(built.get('server'));
    const crd = parse(read('crds/cachecluster.yaml'));
    expect(crd.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.image.default).toBe(built.get('server'));
    const sidecarImages = parseAllDocuments(read('examples/app-with-sidecar.yaml')).flatMap((d) => {
      const o = d.toJS();
      return [...(o?.spec?.template?.spec?.initContainers ?? []), ...(o?.spec?.template?.spec?.containers ?? [])].map((c: { image: string }) => c.image);
    });
    expect(sidecarImages).toContain(built.get('sidecar'));
    // The router behind the client Service runs the sidecar image: the quickstart's `nc web 11211` reaches it.
    expect(DEFAULTS.routerImage).toBe(built.get('sidecar'));
    expect(crd.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.router.properties.image.default).toBe(built.get('sidecar'));
    expect(read('Dockerfile')).toContain(built.get('server'));
  });

  it('every file a command names exists, and the kind cluster has a worker per server of the example', () => {
    const files = commands.flatMap((c) => [...flag(c, '--config'), ...flag(c, '-f'), ...(c.startsWith('helm install') ? [c.split(' ')[3]!] : [])]);
    expect(files).toEqual(['examples/kind-cluster.yaml', 'charts/cachalot-operator', 'examples/cachecluster.yaml']);
    for (const f of files) expect(existsSync(join(ROOT, f))).toBe(true);
    const workers = parse(read('examples/kind-cluster.yaml')).nodes.filter((n: { role: string }) => n.role === 'worker').length;
    const cc = parse(read('examples/cachecluster.yaml'));
    expect(cc.spec.onePerNode ?? DEFAULTS.onePerNode).toBe(true);
    expect(workers).toBeGreaterThanOrEqual(cc.spec.replicas);
    // The example leaves the StorageClass to the cluster's default (kind has one).
    expect(cc.spec.flash.storageClassName).toBeUndefined();
  });

  it('the client command speaks memcached\'s text protocol to the example\'s client Service', () => {
    const client = commands.at(-1)!;
    const name = parse(read('examples/cachecluster.yaml')).metadata.name;
    expect(client).toContain(`nc ${name} 11211`);
    expect(client).toContain('set greeting 0 0 5\\r\\nhello\\r\\n');
  });
});
