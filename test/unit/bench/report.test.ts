// bench/RESULTS.md keeps the latest report of each benchmark program (and of each set of bench/run.mjs
// scenarios): a new run replaces in place every earlier section of the same program whose scenarios it
// covers, and leaves the other sections.
import { describe, expect, test } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

type Report = { recordReport(file: string, report: string): string; programOf(section: string): string | null };
type Scenarios = { scenariosOf(section: string): Set<string> };

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

  test('a run of some scenarios replaces the sections it covers and keeps the others of its program', async () => {
    const { recordReport } = await load();
    const { scenariosOf } = (await import(pathToFileURL(join(process.cwd(), 'bench', 'report.mjs')).href)) as Scenarios;
    expect([...scenariosOf('### x. flash\n\n### r. memory\n### before/after: ...\n')]).toEqual(['x', 'r']);
    const dir = mkdtempSync(join(tmpdir(), 'cachalot-report-'));
    try {
      const file = join(dir, 'RESULTS.md');
      writeFileSync(file, ['# Benchmark results\n', section('1', 'node bench/run.mjs --scenarios a,b', '### a. AAA\n\n### b. BBB'),
        section('2', 'node bench/run.mjs --scenarios x,r', '### x. OLDX\n\n### r. OLDR'), section('3', 'node bench/flash.mjs', 'F')].join('\n'));
      expect(recordReport(file, section('4', 'node bench/run.mjs --scenarios x,r', '### x. NEWX\n\n### r. NEWR'))).toBe('replaced');
      const text = readFileSync(file, 'utf8');
      expect(text.match(/^## /gm)).toHaveLength(3);
      expect(text).toContain('AAA');
      expect(text).not.toContain('OLDX');
      expect(text.indexOf('NEWX')).toBeLessThan(text.indexOf('\nF\n'));
      // A run that covers only part of a section leaves it: the new one is added.
      expect(recordReport(file, section('5', 'node bench/run.mjs --scenarios a', '### a. ONLYA'))).toBe('added');
      expect(readFileSync(file, 'utf8')).toContain('BBB');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
