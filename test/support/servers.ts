// Spawns memcached and cachalot-server on free loopback ports for black-box tests. Every wait is bounded and
// every spawned process is killed: by stopServer() in the test's afterAll, and by an exit hook as a backstop
// for a test file that dies before its afterAll runs.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { userInfo } from 'node:os';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CACHALOT_MAIN = join(REPO_ROOT, 'dist', 'server', 'src', 'cache', 'main.js');
export const MEMCACHED_BIN = '/usr/bin/memcached';

const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 3_000;

export interface RunningServer {
  readonly name: string;
  readonly port: number;
  readonly process: ChildProcess;
  /** stdout+stderr so far, for failure messages. */
  output(): string;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** A port that was free a moment ago (the kernel picks it; the listener is closed before returning). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => (address && typeof address === 'object' ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** memcached refuses to run as root without -u. */
function rootFlags(): string[] {
  return process.getuid?.() === 0 ? ['-u', userInfo().username] : [];
}

export interface ServerCommand {
  readonly name: string;
  readonly argv: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
}

export function memcachedCommand(port: number, extra: readonly string[] = []): ServerCommand {
  return {
    name: 'memcached',
    argv: [MEMCACHED_BIN, '-p', String(port), '-l', '127.0.0.1', '-U', '0', '-t', '1', '-m', '64', ...rootFlags(), ...extra],
  };
}

/**
 * cachalot-server's command line, or why it cannot run. CACHALOT_CMD (whitespace-separated argv prefix) replaces
 * `node dist/server/src/cache/main.js`; `CACHALOT_CMD="memcached -u root"` runs the suites memcached-vs-memcached,
 * which is how the harness's masking is validated.
 */
export function cachalotCommand(port: number, extra: readonly string[] = []): ServerCommand {
  const override = process.env.CACHALOT_CMD?.trim();
  const prefix = override ? override.split(/\s+/) : [process.execPath, CACHALOT_MAIN];
  return {
    name: override ? `cachalot(${override})` : 'cachalot',
    argv: [...prefix, '-p', String(port), '-l', '127.0.0.1', '-t', '2', '-m', '64', '-U', '0', ...extra],
    // Tests bind only 127.0.0.1 and run several servers at once: no HTTP metrics listener (0.0.0.0:9150 by default).
    env: { CACHALOT_METRICS_PORT: '0' },
  };
}

/** null when cachalot can be started, else the reason its tests are skipped. */
export function cachalotUnavailableReason(): string | null {
  if (process.env.CACHALOT_CMD?.trim()) return null;
  if (existsSync(CACHALOT_MAIN)) return null;
  return `cachalot-server is not built: ${CACHALOT_MAIN} does not exist (run \`npm run build\`)`;
}

export function canConnect(port: number, timeoutMs = 250): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: '127.0.0.1' });
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Starts the command and resolves once its port accepts connections (or rejects, with its output). */
export async function startServer(command: ServerCommand, port: number): Promise<RunningServer> {
  const [bin, ...args] = command.argv;
  if (bin === undefined) throw new Error('empty command');
  const child = spawn(bin, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...command.env } });
  live.add(child);
  let output = '';
  const collect = (chunk: Buffer): void => {
    if (output.length < 64 * 1024) output += chunk.toString('utf8');
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  let exited: string | null = null;
  child.once('exit', (code, signal) => {
    exited = `exited with ${code ?? signal}`;
    live.delete(child);
  });
  child.once('error', (err) => {
    exited = `failed to spawn: ${err.message}`;
  });
  const server: RunningServer = { name: command.name, port, process: child, output: () => output };
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exited) break;
    if (await canConnect(port)) return server;
    await sleep(25);
  }
  await stopServer(server);
  throw new Error(
    `${command.name} did not accept connections on 127.0.0.1:${port} within ${START_TIMEOUT_MS} ms` +
      `${exited ? ` (${exited})` : ''}\ncommand: ${command.argv.join(' ')}\noutput:\n${output}`,
  );
}

/** Picks a free port and starts the command built for it; retries once if the port was taken meanwhile. */
export async function startOnFreePort(build: (port: number) => ServerCommand): Promise<RunningServer> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    try {
      return await startServer(build(port), port);
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError;
}

export const startMemcached = (extra: readonly string[] = []): Promise<RunningServer> =>
  startOnFreePort((port) => memcachedCommand(port, extra));

export const startCachalot = (extra: readonly string[] = []): Promise<RunningServer> =>
  startOnFreePort((port) => cachalotCommand(port, extra));

/** Resolves true once the server process has exited, false if it is still running after `timeoutMs`. */
export function waitForExit(server: RunningServer, timeoutMs: number): Promise<boolean> {
  const child = server.process;
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, timeoutMs);
    const onExit = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

/** SIGTERM, then SIGKILL if it has not exited within STOP_TIMEOUT_MS. Safe to call twice or with undefined. */
export async function stopServer(server: RunningServer | undefined): Promise<void> {
  if (!server) return;
  const child = server.process;
  if (child.exitCode !== null || child.signalCode !== null) {
    live.delete(child);
    return;
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
  live.delete(child);
}
