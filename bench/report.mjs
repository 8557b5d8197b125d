// bench/RESULTS.md holds the latest report of each benchmark program (bench/run.mjs, which `npm run bench`
// runs; bench/sidecar.mjs; bench/flash.mjs): a report replaces the section of the same program, whatever its
// options, or is added at the end. Sections start with `## <time> — \`<command>\``.
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

/** Writes `report` (starting with a `## ` heading) into `file`, replacing the section of the same program. */
export function recordReport(file, report) {
  const text = existsSync(file) ? readFileSync(file, 'utf8') : HEAD;
  const first = text.search(/^## /m);
  const head = (first < 0 ? text : text.slice(0, first)).trimEnd();
  const sections = first < 0 ? [] : text.slice(first).split(/\n(?=## )/).map((s) => s.trim());
  const body = report.trim();
  const program = programOf(body);
  const same = (s) => program !== null && programOf(s) === program;
  const at = sections.findIndex(same);
  const kept = sections.filter((s, i) => i === at || !same(s));
  if (at >= 0) kept[kept.indexOf(sections[at])] = body;
  else kept.push(body);
  writeFileSync(file, `${[head, ...kept].join('\n\n')}\n`);
  return at >= 0 ? 'replaced' : 'added';
}
