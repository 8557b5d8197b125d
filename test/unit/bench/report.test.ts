// bench/RESULTS.md keeps the latest report of each benchmark program: a new run replaces every earlier
// section of the same program (whatever its options) in place, and leaves the other programs' sections;
// bench/run.mjs per scenario, since its scenarios are run a few at a time.
import { describe, expect, test } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

type Report = {
  recordReport(file: string, report: string): string;
  programOf(section: string): string | null;
  scenariosOf(section: string): string[];
};

async function load(): Promise<Report> {
  return (await import(pathToFileURL(join(process.cwd(), 'bench', 'report.mjs')).href)) as Report;
}

const section = (time: string, cmd: string, body: string): string => `## ${time} — \`${cmd}\`\n\n${body}\n`;

describe('bench report file', () => {
  test('npm run bench and node bench/run.mjs are one program; options do not matter', async () => {
    const { programOf } = await load();
    expect(programOf(section('t', 'npm run bench -- --quick', 'x'))).toBe('bench/run.mjs');
    expect(programOf(section('t', 'node bench/run.mjs --scenarios a', 'x'))).toBe('bench/run.mjs');
    expect(programOf(section('t', 'node bench/sidecar.mjs', 'x'))).toBe('bench/sidecar.mjs');
    expect(programOf('no heading')).toBeNull();
  });

  test('a run replaces every earlier section of its program at the first one\'s place', async () => {
    const { recordReport } = await load();
    const dir = mkdtempSync(join(tmpdir(), 'cachalot-report-'));
    try {
      const file = join(dir, 'RESULTS.md');
      writeFileSync(file, ['# Benchmark results\n', section('1', 'node bench/run.mjs --scenarios a', 'A'),
        section('2', 'node bench/flash.mjs', 'F'), section('3', 'node bench/run.mjs --scenarios e,f,g', 'EFG')].join('\n'));
      expect(recordReport(file, section('4', 'npm run bench --', 'ALL'))).toBe('replaced');
      const text = readFileSync(file, 'utf8');
      expect(text.match(/^## /gm)).toHaveLength(2);
      expect(text.indexOf('ALL')).toBeLessThan(text.indexOf('\nF\n'));
      expect(text).not.toContain('EFG');
      expect(recordReport(file, section('5', 'node bench/sidecar.mjs', 'S'))).toBe('added');
      expect(readFileSync(file, 'utf8').match(/^## /gm)).toHaveLength(3);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a run of some scenarios replaces those scenarios only', async () => {
    const { recordReport, scenariosOf } = await load();
    expect(scenariosOf(section('t', 'node bench/run.mjs --scenarios c,d --rounds 3', 'x'))).toEqual(['c', 'd']);
    expect(scenariosOf(section('t', 'npm run bench -- --quick', 'x'))).toContain('p');
    const dir = mkdtempSync(join(tmpdir(), 'cachalot-report-'));
    try {
      const file = join(dir, 'RESULTS.md');
      const cdp = [
        'intro', '### c. big', 'C-TABLE', '### d. huge', 'D-TABLE', '### p. paced', 'P-TABLE',
        '### before/after: table', '| scenario | figure |', '|---|---|', '| c | throughput |', '| d | p99 |',
        '| p | p99 |',
      ].join('\n');
      writeFileSync(file, ['# Benchmark results\n', section('1', 'npm run bench -- --scenarios a,b', 'AB'),
        section('2', 'npm run bench -- --scenarios c,d,p', cdp), section('3', 'node bench/run.mjs --scenarios d', 'OLD-D'),
        section('4', 'node bench/run.mjs --scenarios x,r', 'XR')].join('\n'));
      expect(recordReport(file, section('5', 'node bench/run.mjs --scenarios c,d', 'NEW-CD'))).toBe('replaced');
      const text = readFileSync(file, 'utf8');
      expect(text.match(/^## /gm)).toHaveLength(4);
      for (const kept of ['AB', 'XR', '### p. paced', 'P-TABLE', '| p | p99 |', 'NEW-CD']) expect(text).toContain(kept);
      for (const gone of ['C-TABLE', 'D-TABLE', 'OLD-D', '| c | throughput |', '| d | p99 |']) expect(text).not.toContain(gone);
      expect(text).toContain('scenarios c, d of this run: replaced by a later section');
      expect(text.indexOf('NEW-CD')).toBeLessThan(text.indexOf('P-TABLE'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
