// bench/RESULTS.md holds the latest report of each benchmark program (bench/run.mjs, which `npm run bench`
// runs; bench/sidecar.mjs; bench/flash.mjs): a report replaces the section of the same program, whatever its
// options, or is added at the end. Sections start with `## <time> — \`<command>\``.
// bench/run.mjs is recorded per scenario, because its scenarios are run a few at a time (`--scenarios c,d`):
// a report replaces the earlier run.mjs sections whose scenarios it covers, and takes its own scenarios'
// subsections (`### c. ...`) and before/after rows out of the others, which stay with a line saying so.
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

/** bench/run.mjs's scenarios when `--scenarios` is not given. */
export const RUN_DEFAULT_SCENARIOS = 'abcdpefrg'.split('');

/** The scenario ids a bench/run.mjs section's command ran. */
export function scenariosOf(section) {
  const m = /^## [^\n`]*`([^`]+)`/.exec(section);
  if (!m) return [];
  const list = /--scenarios[ =]([a-z,]+)/.exec(m[1]);
  return list ? list[1].split(',').filter((x) => x !== '') : [...RUN_DEFAULT_SCENARIOS];
}

/**
 * An earlier bench/run.mjs section without the scenarios in `gone`: their `### x.` subsections and their
 * rows in the before/after table removed, and a line under the heading naming them.
 */
function withoutScenarios(section, gone) {
  const parts = section.split(/\n(?=### )/);
  const kept = parts.filter((p) => {
    const id = /^### ([a-z])\. /.exec(p);
    return id === null || !gone.includes(id[1]);
  }).map((p) => p.split('\n').filter((line) => {
    const row = /^\| ([a-z]) \|/.exec(line);
    return row === null || !gone.includes(row[1]);
  }).join('\n'));
  const nl = kept[0].indexOf('\n');
  const note = `\n\n- scenarios ${gone.join(', ')} of this run: replaced by a later section`;
  kept[0] = nl < 0 ? kept[0] + note : kept[0].slice(0, nl) + note + kept[0].slice(nl);
  return kept.join('\n');
}

/** Writes `report` (starting with a `## ` heading) into `file`, replacing the section of the same program. */
export function recordReport(file, report) {
  const text = existsSync(file) ? readFileSync(file, 'utf8') : HEAD;
  const first = text.search(/^## /m);
  const head = (first < 0 ? text : text.slice(0, first)).trimEnd();
  const sections = first < 0 ? [] : text.slice(first).split(/\n(?=## )/).map((s) => s.trim());
  const body = report.trim();
  const program = programOf(body);
  const perScenario = program === 'bench/run.mjs';
  const mine = perScenario ? scenariosOf(body) : [];
  const same = (s) => program !== null && programOf(s) === program
    && (!perScenario || scenariosOf(s).some((x) => mine.includes(x)));
  const covered = (s) => !perScenario || scenariosOf(s).every((x) => mine.includes(x));
  const at = sections.findIndex(same);
  const kept = [];
  sections.forEach((s, i) => {
    if (i === at) kept.push(body);
    if (!same(s)) kept.push(s);
    else if (!covered(s)) kept.push(withoutScenarios(s, scenariosOf(s).filter((x) => mine.includes(x))));
  });
  if (at < 0) kept.push(body);
  writeFileSync(file, `${[head, ...kept].join('\n\n')}\n`);
  return at >= 0 ? 'replaced' : 'added';
}
