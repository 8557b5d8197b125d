// A memcached (the oracle) and a server under test started with the same flags, and the routine that runs one
// script against both and compares the masked replies.
import { startMemcached, stopServer, type RunningServer } from '../../support/servers.js';
import { compareTranscripts } from './replies.js';
import { runSteps, Session, type SendMode } from './runner.js';
import { appendFileSync } from 'node:fs';
import { maskTranscript } from './replies.js';
import { escapeBytes, RESET_STEP, type Script } from './script.js';

export interface ServerPair {
  readonly oracle: RunningServer;
  readonly candidate: RunningServer;
  readonly oracleSession: Session;
  readonly candidateSession: Session;
}

export async function startPair(
  startCandidate: (flags: readonly string[]) => Promise<RunningServer>,
  flags: readonly string[] = [],
): Promise<ServerPair> {
  const [oracle, candidate] = await Promise.allSettled([startMemcached(flags), startCandidate(flags)]);
  if (oracle.status === 'rejected' || candidate.status === 'rejected') {
    await stopServer(oracle.status === 'fulfilled' ? oracle.value : undefined);
    await stopServer(candidate.status === 'fulfilled' ? candidate.value : undefined);
    throw oracle.status === 'rejected' ? oracle.reason : (candidate as PromiseRejectedResult).reason;
  }
  return {
    oracle: oracle.value,
    candidate: candidate.value,
    oracleSession: new Session(oracle.value.port),
    candidateSession: new Session(candidate.value.port),
  };
}

export async function stopPair(pair: ServerPair | undefined): Promise<void> {
  if (!pair) return;
  pair.oracleSession.close();
  pair.candidateSession.close();
  await Promise.all([stopServer(pair.oracle), stopServer(pair.candidate)]);
}

/** Runs the script (after RESET_STEP) on both servers at once; null when they agree, else a diff. */
export async function runOnPair(
  pair: ServerPair,
  script: Script,
  mode: SendMode,
  pieceSeed: number,
  quietMs: number,
): Promise<string | null> {
  const steps = [RESET_STEP, ...script.steps];
  const options = { mode, pieceSeed, quietMs };
  const [expected, actual] = await Promise.all([
    runSteps(pair.oracleSession, steps, options),
    runSteps(pair.candidateSession, steps, options),
  ]);
  // DIFF_DUMP=<file>: append the oracle's masked replies, to read what memcached actually answers.
  const dump = process.env.DIFF_DUMP;
  if (dump) {
    const masked = maskTranscript(expected, script.exactStats);
    const text = masked.map((m) => `>>> ${escapeBytes(m.sent, 600)}\n<<< ${m.text}  ${m.times.join(' ')}`).join('\n');
    appendFileSync(dump, `\n=== ${script.name} [${mode}]\n${text}\n`);
  }
  return compareTranscripts(expected, actual, { expected: pair.oracle.name, actual: pair.candidate.name }, script.exactStats);
}
