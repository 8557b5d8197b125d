// bench/RESULTS.md holds the latest report of each benchmark program (bench/run.mjs, which `npm run bench`
// runs; bench/sidecar.mjs; bench/flash.mjs) and, for bench/run.mjs, of each set of scenarios: a report
// replaces the sections of the same program whose scenarios it covers, or is added at the end. Sections
// start with `## <time> — \`<command>\``.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const HEAD = '# Benchmark results\n\nThe latest report of each benchmark program (what it measures: docs/benchmarks.md, docs/flash.md, docs/sidecar.md).\nEach section names its command, commit and machine; a new run of a program replaces its section.\n';

/** The program a section's heading names: `npm run bench` is bench/run.mjs. */
export function programOf(section) {
  const m = /^## [^\n`]*`([^`]+)`/.exec(section);
  if (!m) return null;
  const cmd = m[1].trim();
  if (/^npm run bench\b/.test(cmd)) return 'bench/run.mjs';
  const file = /(bench\/[\w.-]+\.mjs)/.exec(cmd);
  return file ? file[1] : cmd;
}

/** The scenario ids a section reports (`### x. ...` headings of bench/run.mjs); empty for other programs. */
export function scenariosOf(section) {
  return new Set([...section.matchAll(/^### ([a-z])\. /gm)].map((m) => m[1]));
}

/**
 * Writes `report` (starting with a `## ` heading) into `file`, replacing the earlier sections of the same
 * program whose scenarios the report covers (all of them for a program without scenarios), at the first
 * one's place: `--scenarios x,r` replaces the x,r section and keeps the a,b one.
 */
export function recordReport(file, report) {
  const text = existsSync(file) ? readFileSync(file, 'utf8') : HEAD;
  const first = text.search(/^## /m);
  const head = (first < 0 ? text : text.slice(0, first)).trimEnd();
  const sections = first < 0 ? [] : text.slice(first).split(/\n(?=## )/).map((s) => s.trim());
  const body = report.trim();
  const program = programOf(body);
  const covered = scenariosOf(body);
  const same = (s) => program !== null && programOf(s) === program && [...scenariosOf(s)].every((id) => covered.has(id));
  const at = sections.findIndex(same);
  const kept = sections.filter((s, i) => i === at || !same(s));
  if (at >= 0) kept[kept.indexOf(sections[at])] = body;
  else kept.push(body);
  writeFileSync(file, `${[head, ...kept].join('\n\n')}\n`);
  return at >= 0 ? 'replaced' : 'added';
}
