// The operator's derived memory limit against the real server it is for: cachalot-server started with the
// arguments the operator gives a pod (-m, -t, -I, the flash tier), filled with twice -m of 100 B .. 512 KiB
// values over several connections, must peak (VmHWM) inside the container limit the operator sets, or the
// kubelet OOM-kills a member exactly when its cache is full. Run after `npm run build`.
import { readFileSync } from 'node:fs';
import { CACHALOT_MAIN, cachalotUnavailableReason, freePort, startServer, stopServer, type RunningServer } from '../../support/servers.js';
import { Client, MiB, itemsFor, readItems, removeDir, sizeOf, tempDir, writeItems } from './support.js';
import { derivedResources, serverArgs } from '../../../operator/src/builders/statefulset.js';
import { withDefaults } from '../../../operator/src/api/types.js';
import { requirePrereq } from '../../support/prereq.js';

const unavailable = cachalotUnavailableReason();
const maybe = requirePrereq('cachalot-server build (dist/)', unavailable === null, unavailable ?? '').describe;

function statusMiB(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
  if (m === null) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(m[1]) / 1024;
}

maybe('the operator\'s pod memory limit holds a full server', () => {
  test.each([
    ['64Mi', 1],
    ['64Mi', 4],
    ['256Mi', 2],
  ])('memory %s, threads %i: peak RSS after filling twice -m stays under the derived limit', async (memory, threads) => {
    const spec = withDefaults({ memory, threads, flash: { size: '2Gi' } });
    const limitMiB = Number(/^(\d+)Mi$/.exec(derivedResources(spec).limits?.memory ?? '')?.[1]);
    expect(limitMiB).toBeGreaterThan(0);
    const dir = tempDir();
    const port = await freePort();
    // The pod's arguments, with the port, the flash path and the listen address of this test.
    const args = serverArgs(spec).map((a, i, all) => (all[i - 1] === '-p' ? String(port)
      : a.startsWith('ext_path=') ? a.replace(/^ext_path=[^:]+/, `ext_path=${dir}`) : a));
    let server: RunningServer | undefined;
    const clients: Client[] = [];
    try {
      server = await startServer({ name: 'cachalot-server', argv: [process.execPath, CACHALOT_MAIN, ...args, '-l', '127.0.0.1'] }, port);
      const pid = server.process.pid!;
      const memMiB = Number(args[args.indexOf('-m') + 1]);
      const end = itemsFor(0, 2 * memMiB * MiB);
      const lanes = 4;
      const per = Math.ceil(end / lanes);
      for (let l = 0; l < lanes; l++) clients.push(new Client(port));
      await Promise.all(clients.map((c, l) => writeItems(c, l * per, Math.min(end, (l + 1) * per), 8)));
      // Read the newest items back, so the read path's buffers count too. Sets wait for the flusher when
      // the write buffer is full (flash/backpressure.ts), so a fill this fast keeps every item it evicts
      // even when the flusher gets little CPU; only values under ext_item_size (512 B by default, the
      // pod's setting) are never written to flash, and those evicted from RAM are gone.
      const back = await readItems(clients[0], end - 500, end, 8);
      expect(back.wrong).toEqual([]);
      expect(back.missing.filter((i) => sizeOf(i) >= 512)).toEqual([]);
      expect(back.ok).toBeGreaterThan(back.missing.length);
      const peak = statusMiB(pid, 'VmHWM');
      expect(server.process.exitCode).toBeNull();
      expect(Math.ceil(peak)).toBeLessThan(limitMiB);
    } finally {
      for (const c of clients) c.close();
      if (server) await stopServer(server);
      removeDir(dir);
    }
  }, 180_000);
});
