import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FileTable, fileName, listLogFiles } from '../../../../server/src/cache/flash/files.js';
import { removeDir, tempDir } from './helpers.js';

describe('flash log files', () => {
  test('log files are listed by number (9 before 10), other names ignored', () => {
    const dir = tempDir();
    try {
      for (const no of [10, 9, 100, 2]) writeFileSync(join(dir, fileName(no)), '');
      writeFileSync(join(dir, 'cachalot.flush'), 'oldest_live 1\n');
      writeFileSync(join(dir, 'cachalot-12.flash'), '');
      expect(listLogFiles(dir)).toEqual([2, 9, 10, 100]);
      expect(listLogFiles(join(dir, 'missing'))).toEqual([]);
    } finally {
      removeDir(dir);
    }
  });

  test('the file table forgets a number once its slot holds a newer file', () => {
    const table = new FileTable(new SharedArrayBuffer(4 * 2 * 4)); // 4 slots of (number, path index)
    table.set(1, 0);
    table.set(2, 1);
    expect([table.pathOf(1), table.pathOf(2), table.pathOf(3)]).toEqual([0, 1, -1]);
    table.set(5, 1); // 5 & 3 === 1: file 1 was reclaimed, its slot reused
    expect([table.pathOf(1), table.pathOf(5)]).toEqual([-1, 1]);
  });
});
