/**
 * cachalot-sidecar entry point: config -> ring source -> Sidecar -> signals.
 * Exit codes: 0 after a graceful stop, 2 for a bad flag, 64 for a file a flag names that cannot be used
 * (memcached's EX_USAGE, as cachalot-server), 1 for anything else at start.
 */
import pino from 'pino';
import { parseArgs } from './config.js';
import { cpuQuota, spinForQuota } from './cpuquota.js';
import { SidecarError } from './errors.js';
import { FileRingSource } from '../ring/file.js';
import type { RingSource } from '../ring/source.js';
import { Sidecar } from './sidecar.js';

const EX_USAGE = 64;

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs(process.argv.slice(2));
  } catch (err) {
    if (err instanceof SidecarError) {
      process.stderr.write(`cachalot-sidecar: ${err.message}\n`);
      return err.code === 'ERR_FILE' ? EX_USAGE : 2;
    }
    throw err;
  }
  if (parsed.kind === 'exit') {
    process.stdout.write(parsed.text);
    return 0;
  }
  const config = parsed.config;
  const log = pino({ name: 'cachalot-sidecar', level: config.logLevel, base: { pid: process.pid } });
  const spin = spinForQuota(config.spinUs, config.spinUsGiven, cpuQuota());
  if (spin.reason !== undefined) log.info({ spinUs: spin.spinUs }, spin.reason);
  config.spinUs = spin.spinUs;
  let source: RingSource;
  if (config.ringFile !== undefined) {
    source = new FileRingSource(config.ringFile, config.ringPollMs);
  } else {
    // Loaded only for the API source: @kubernetes/client-node adds most of a second to start-up.
    const { KubeConfig } = await import('@kubernetes/client-node');
    const { ConfigMapRingSource } = await import('../ring/configmap.js');
    const kc = new KubeConfig();
    try {
      kc.loadFromDefault();
    } catch (err) {
      process.stderr.write(`cachalot-sidecar: --ring-configmap: no Kubernetes credentials (${(err as Error).message})\n`);
      return 2;
    }
    source = new ConfigMapRingSource(kc, config.ringConfigMap!.namespace, config.ringConfigMap!.name);
  }
  const sidecar = new Sidecar(config, source, log);
  try {
    await sidecar.start();
  } catch (err) {
    log.fatal({ err: (err as Error).message }, 'cannot start');
    await sidecar.stop();
    return 1;
  }
  await new Promise<void>((resolve) => {
    const onSignal = (signal: string): void => {
      log.info({ signal }, 'shutting down');
      void sidecar.stop().then(resolve);
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
  return 0;
}

main().then((code) => {
  process.exitCode = code;
  // Anything left (a watch socket, a probe) must not keep a stopped sidecar alive.
  setTimeout(() => process.exit(code), 100).unref();
}, (err: unknown) => {
  process.stderr.write(`cachalot-sidecar: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
