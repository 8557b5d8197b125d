/**
 * The layout of server/src as a rule, not a wish: no import cycle between files, none between sibling
 * folders, and the shared layers (protocol/, net/, runtime/) never import either program (cache/,
 * sidecar/). Imports are read from the sources (static, `export ... from`, dynamic `import()`, and
 * `import type`, which ties folders together as much as a value import does).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../server/src');
const SHARED = ['protocol', 'net', 'runtime', 'ring'];
const PROGRAMS = ['cache', 'sidecar'];

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** The text without its comments, so that examples and references in comments don't count. */
function withoutComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

/** Relative specifiers of every import in `text`. */
export function importSpecifiers(text: string): string[] {
  const code = withoutComments(text);
  const specs: string[] = [];
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)(['"])(\.{1,2}\/[^'"]+)\1/gm;
  for (let m = re.exec(code); m !== null; m = re.exec(code)) specs.push(m[2]!);
  return specs;
}

/** File graph over paths relative to server/src ('cache/engine/text.ts'). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const abs of sourceFiles(ROOT)) {
    const file = relative(ROOT, abs).split('\\').join('/');
    const deps = importSpecifiers(readFileSync(abs, 'utf8'))
      .map((s) => posix.normalize(posix.join(posix.dirname(file), s)).replace(/\.js$/, '.ts'));
    graph.set(file, deps);
  }
  return graph;
}

/** Strongly connected components with more than one node, or a node importing itself (Tarjan). */
export function cycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(scc.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return found;
}

/**
 * For every folder, a graph whose nodes are its direct subfolders (each with everything under it): an edge
 * when a file under one imports a file under another. A folder's own files (a program's main and config)
 * are not nodes: they wire the subfolders together.
 */
function siblingFolderGraphs(files: Map<string, string[]>): Map<string, Map<string, string[]>> {
  const byParent = new Map<string, Map<string, Set<string>>>();
  for (const [file, deps] of files) {
    for (const dep of deps) {
      const a = file.split('/').slice(0, -1);
      const b = dep.split('/').slice(0, -1);
      let i = 0;
      while (i < a.length && i < b.length && a[i] === b[i]) i++;
      if (i === a.length || i === b.length) continue; // same folder, or one inside the other's own files
      const parent = a.slice(0, i).join('/') || '.';
      const from = a[i]!;
      const to = b[i]!;
      let g = byParent.get(parent);
      if (g === undefined) byParent.set(parent, (g = new Map()));
      if (!g.has(from)) g.set(from, new Set());
      if (!g.has(to)) g.set(to, new Set());
      g.get(from)!.add(to);
    }
  }
  const out = new Map<string, Map<string, string[]>>();
  for (const [parent, g] of byParent) out.set(parent, new Map([...g].map(([k, v]) => [k, [...v]])));
  return out;
}

describe('server/src layout', () => {
  const graph = importGraph();

  test('the import reader sees static, type, re-export and dynamic imports, not comments', () => {
    const text = [
      "import { a } from './a.js';",
      "import type { B } from '../b/b.js';",
      "export { c } from './c.js';",
      "import './side-effect.js';",
      "const d = await import('./d.js');",
      "// import { e } from './e.js';",
      "/* import { f } from './f.js'; */",
      "import pino from 'pino';",
    ].join('\n');
    expect(importSpecifiers(text)).toEqual(['./a.js', '../b/b.js', './c.js', './side-effect.js', './d.js']);
  });

  test('the cycle finder reports a cycle and only the files in it', () => {
    const g = new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']], ['e', ['e']]]);
    expect(cycles(g)).toEqual([['a', 'b', 'c'], ['e']]);
    expect(cycles(new Map([['a', ['b']], ['b', []]]))).toEqual([]);
  });

  test('every relative import names a file that exists', () => {
    const missing = [...graph].flatMap(([f, deps]) => deps.filter((d) => !graph.has(d)).map((d) => `${f} -> ${d}`));
    expect(missing).toEqual([]);
  });

  test('no import cycle between files', () => {
    expect(cycles(graph)).toEqual([]);
  });

  test('no import cycle between sibling folders', () => {
    const found: string[] = [];
    for (const [parent, g] of siblingFolderGraphs(graph)) {
      for (const c of cycles(g)) found.push(`${parent}: ${c.join(' <-> ')}`);
    }
    expect(found).toEqual([]);
  });

  test('the shared layers (protocol, net, runtime, ring) import neither program', () => {
    const bad = [...graph].flatMap(([f, deps]) =>
      SHARED.includes(f.split('/')[0]!) ? deps.filter((d) => PROGRAMS.includes(d.split('/')[0]!)).map((d) => `${f} -> ${d}`) : []);
    expect(bad).toEqual([]);
  });

  test('the two programs do not import each other', () => {
    const bad = [...graph].flatMap(([f, deps]) => {
      const top = f.split('/')[0]!;
      return PROGRAMS.includes(top) ? deps.filter((d) => PROGRAMS.includes(d.split('/')[0]!) && d.split('/')[0] !== top).map((d) => `${f} -> ${d}`) : [];
    });
    expect(bad).toEqual([]);
  });

  test('only runtime/internals.ts reaches into Node internals', () => {
    const internals = /process\.binding\(|\._handle\b|getOwnPropertySymbols\(/;
    const users = [...graph.keys()].filter((f) => internals.test(withoutComments(readFileSync(join(ROOT, f), 'utf8'))));
    expect(users).toEqual(['runtime/internals.ts']);
  });

  test('only store/lock.ts finds a shard lock word (the flash index takes it through that API)', () => {
    const users = [...graph.keys()].filter((f) => /\bSH_LOCK\b/.test(withoutComments(readFileSync(join(ROOT, f), 'utf8'))));
    expect(users.sort()).toEqual(['cache/store/layout.ts', 'cache/store/lock.ts']);
  });

  test('only the store computes offsets into the shard words (others lock through store/lock.ts)', () => {
    const users = [...graph.keys()].filter((f) => /\bSHARD_I32_STRIDE\b/.test(withoutComments(readFileSync(join(ROOT, f), 'utf8'))));
    expect(users.length).toBeGreaterThan(0);
    expect(users.filter((f) => !f.startsWith('cache/store/'))).toEqual([]);
  });

  test('the protocol engine reaches flash only through the tiered store (nothing under cache/engine imports cache/flash)', () => {
    const bad = [...graph].flatMap(([f, deps]) =>
      f.startsWith('cache/engine/') ? deps.filter((d) => d.startsWith('cache/flash/')).map((d) => `${f} -> ${d}`) : []);
    expect(bad).toEqual([]);
    // The rule reads the real graph: the engine does import the store.
    expect([...graph].some(([f, deps]) => f.startsWith('cache/engine/') && deps.some((d) => d.startsWith('cache/store/')))).toBe(true);
  });

  test('thread entry points are files of their own that nothing imports for values', () => {
    // A module that starts a thread's work on import would start it in whoever imports it.
    const isEntry = (f: string): boolean => /(^|\/)(worker|[a-z]+-thread)\.ts$/.test(f);
    const readers = [...graph.keys()].filter((f) => /\bworkerData\b(?!\s*:)/.test(withoutComments(readFileSync(join(ROOT, f), 'utf8'))));
    expect(readers.filter((f) => !isEntry(f))).toEqual([]);
    expect(readers).toEqual(expect.arrayContaining(['cache/worker.ts', 'cache/flash/reader-thread.ts', 'cache/flash/flusher-thread.ts']));
    const valueImports = [...graph.keys()].flatMap((f) => {
      const code = withoutComments(readFileSync(join(ROOT, f), 'utf8'));
      const re = /^\s*(?:import|export)\s+(?!type\b)[^;]*?from\s*'(\.{1,2}\/[^']+)'/gm;
      const hits: string[] = [];
      for (let m = re.exec(code); m !== null; m = re.exec(code)) {
        const dep = posix.normalize(posix.join(posix.dirname(f), m[1]!)).replace(/\.js$/, '.ts');
        if (isEntry(dep)) hits.push(`${f} -> ${dep}`);
      }
      return hits;
    });
    expect(valueImports).toEqual([]);
  });

  test('every folder of server/src is a known layer', () => {
    const top = readdirSync(ROOT, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort();
    expect(top).toEqual([...PROGRAMS, ...SHARED].sort());
    expect(readdirSync(ROOT).filter((n) => n.endsWith('.ts'))).toEqual([]);
  });
});
