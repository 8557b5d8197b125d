// bench/RESULTS.md holds the latest run of each benchmark command: a report replaces the section whose
// heading names the same command, or is added at the end. Sections start with `## <time> — \`<command>\``.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const HEAD = '# Benchmark results\n\nThe latest run of each benchmark (what it measures: docs/benchmarks.md, docs/flash.md, docs/sidecar.md).\nEach section names its command, commit and machine; a new run replaces the section of the same benchmark.\n';

/** The command a section's heading names: the first `...` span of its `## ` line. */
function commandOf(section) {
  const m = /^## [^\n`]*`([^`]+)`/.exec(section);
  return m ? m[1].trim() : null;
}

/** Writes `report` (starting with a `## ` heading) into `file`, replacing the section of the same command. */
export function recordReport(file, report) {
  const text = existsSync(file) ? readFileSync(file, 'utf8') : HEAD;
  const first = text.search(/^## /m);
  const head = (first < 0 ? text : text.slice(0, first)).trimEnd();
  const sections = first < 0 ? [] : text.slice(first).split(/\n(?=## )/).map((s) => s.trim());
  const body = report.trim();
  const cmd = commandOf(body);
  const at = cmd === null ? -1 : sections.findIndex((s) => commandOf(s) === cmd);
  if (at >= 0) sections[at] = body;
  else sections.push(body);
  writeFileSync(file, `${[head, ...sections].join('\n\n')}\n`);
  return at >= 0 ? 'replaced' : 'added';
}
