// cachalot-server as a black box for the server integration tests: start it with its HTTP port on loopback
// and wait until every worker thread listens (/readyz), scrape /metrics, read the process's RSS, run it with
// bad flags to completion. Every wait is bounded; every child is killed (stopServer, or the exit hook in
// servers.ts for servers started through it, or the timeout in runToExit).
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import {
  CACHALOT_MAIN, REPO_ROOT, freePort, startServer, stopServer, type RunningServer,
} from './servers.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface Cachalot {
  readonly server: RunningServer;
  readonly port: number;
  /** 0 when started without the HTTP listener. */
  readonly metricsPort: number;
  readonly pid: number;
}

export interface CachalotOptions {
  /** Worker threads (-t); 0 leaves -t out so the server picks its default. Default 4. */
  threads?: number;
  /** -m; 0 leaves it out. Default 64. */
  memoryMb?: number;
  /** Extra environment (CACHALOT_* variables). */
  env?: Readonly<Record<string, string>>;
  /** Start the HTTP listener (on 127.0.0.1) and wait for /readyz before returning. Default true. */
  metrics?: boolean;
  extra?: readonly string[];
}

export function cachalotArgv(port: number, metricsPort: number, opts: CachalotOptions): string[] {
  return [
    process.execPath, CACHALOT_MAIN,
    '-p', String(port), '-l', '127.0.0.1', '-U', '0',
    ...(opts.threads === 0 ? [] : ['-t', String(opts.threads ?? 4)]),
    ...(opts.memoryMb === 0 ? [] : ['-m', String(opts.memoryMb ?? 64)]),
    '--metrics-port', String(metricsPort), '--metrics-listen', '127.0.0.1',
    ...(opts.extra ?? []),
  ];
}

/** Starts cachalot-server on free loopback ports; with metrics, resolves once /readyz says every worker listens. */
export async function startCachalotServer(opts: CachalotOptions = {}): Promise<Cachalot> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const metricsPort = opts.metrics === false ? 0 : await freePort();
    let server: RunningServer | undefined;
    try {
      server = await startServer({ name: 'cachalot', argv: cachalotArgv(port, metricsPort, opts), env: opts.env }, port);
      if (metricsPort !== 0) {
        await waitFor(async () => (await httpGet(metricsPort, '/readyz').catch(() => null))?.status === 200, 10_000, 'readyz 200');
      }
      return { server, port, metricsPort, pid: server.process.pid ?? -1 };
    } catch (err) {
      await stopServer(server);
      lastError = err;
    }
  }
  throw lastError;
}

/** Polls `check` every `intervalMs` until it returns true; throws naming `what` after `timeoutMs`. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string, intervalMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

export interface HttpReply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** GET http://127.0.0.1:port/path; rejects on connection errors (ECONNREFUSED after shutdown) and after timeoutMs. */
export function httpGet(port: number, path: string, timeoutMs = 5_000): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`GET ${path} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/** Prometheus text format into `name{labels}` -> value (labels as written by the server). */
export function parsePrometheus(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)/.exec(line);
    if (m) samples.set(m[1]!, Number(m[2]));
  }
  return samples;
}

export async function scrape(metricsPort: number): Promise<Map<string, number>> {
  const reply = await httpGet(metricsPort, '/metrics');
  if (reply.status !== 200) throw new Error(`/metrics answered ${reply.status}`);
  return parsePrometheus(reply.body);
}

/** VmRSS of a process in bytes (Linux). */
export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

export interface ExitResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** True when the process did not exit by itself within the timeout and was killed. */
  readonly timedOut: boolean;
  /** True when it logged that it listens (and was then killed): the arguments were accepted. */
  readonly listened: boolean;
}

/**
 * Runs cachalot-server with exactly these arguments until it exits, or until it logs "listening" (then it is
 * killed and `listened` is set: no waiting on a timer to decide that bad flags were accepted), or until
 * timeoutMs (SIGKILL, `timedOut`).
 */
export function runToExit(args: readonly string[], timeoutMs = 20_000, env: NodeJS.ProcessEnv = {}): Promise<ExitResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CACHALOT_MAIN, ...args], {
      cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env },
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let listened = false;
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString('utf8');
      if (!listened && stdout.includes('"msg":"listening"')) {
        listened = true;
        child.kill('SIGKILL');
      }
    });
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut, listened });
    });
  });
}

/** Runs the jobs with at most `parallel` at a time (process start-up is CPU-bound on a shared machine). */
export function limitConcurrency(parallel: number): <T>(job: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: Array<() => void> = [];
  return async <T>(job: () => Promise<T>): Promise<T> => {
    if (running >= parallel) await new Promise<void>((resolve) => waiting.push(resolve));
    running++;
    try {
      return await job();
    } finally {
      running--;
      waiting.shift()?.();
    }
  };
}

/** Resolves with the exit code/signal once the child exits, or null if it still runs after timeoutMs. */
export function exitOf(child: ChildProcess, timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null } | null> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => {
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      clearTimeout(timer);
      resolve({ code, signal });
    };
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(null);
    }, timeoutMs);
    child.once('exit', onExit);
  });
}
