// A differential script: steps whose bytes go to both servers unchanged, except for two placeholders that
// must resolve per server: `{{cas}}` (the last CAS value this connection saw in a reply, or 0) and
// `{{now+N}}` / `{{now-N}}` (unix time, for absolute exptimes).
/**
 * `send`: bytes, then the `mn` sentinel, then the replies up to its `MN`. With `partial`, no sentinel: the bytes
 * end mid-command, and the step records what the server does within PARTIAL_WAIT_MS (usually nothing, or close).
 * `conn` picks one of the script's connections (0 by default): cachalot spreads connections over its threads.
 */
export type Step =
  | { readonly send: string; readonly partial?: boolean; readonly conn?: number }
  | { readonly sleepMs: number }
  | { readonly mark: true }
  | { readonly atMs: number };

export interface Script {
  readonly name: string;
  readonly steps: readonly Step[];
  /** Extra server flags; scripts are grouped by these and each group gets its own server pair. */
  readonly flags?: readonly string[];
  /** The script ends the server (shutdown): it gets a server pair of its own for each run. */
  readonly fresh?: boolean;
  /**
   * Stats (bare `stats`) masked in general that this script compares exactly, because it rules out the reason
   * they are masked (a fresh pair, no flush_all: nothing is hidden but still counted).
   */
  readonly exactStats?: readonly string[];
  /** Only these send modes: memcached's own answer in the other one depends on read timing. */
  readonly modes?: readonly ('whole' | 'pieces')[];
}

/** Run once per script to make scripts independent of each other: empty cache, zeroed counters. */
export const RESET_STEP: Step = { send: 'flush_all\r\nstats reset\r\n' };

export function script(name: string, ...steps: (string | Step)[]): Script {
  return { name, steps: steps.map((s) => (typeof s === 'string' ? { send: s } : s)) };
}

export function withFlags(s: Script, flags: readonly string[], fresh = false): Script {
  return { ...s, flags, fresh };
}

export const sleep = (sleepMs: number): Step => ({ sleepMs });

/**
 * `mark()` notes the time; `at(ms)` waits until `ms` after the last mark (or the script's start). Times that
 * probe an expiry boundary are measured from one mark, so the steps between them do not add up.
 */
export const mark = (): Step => ({ mark: true });
export const at = (atMs: number): Step => ({ atMs });

/** Printable form of wire bytes for failure messages: CR/LF and control bytes escaped, long runs shortened. */
export function escapeBytes(text: string, max = 400): string {
  let out = '';
  for (let i = 0; i < text.length && out.length < max; i++) {
    const c = text.charCodeAt(i);
    if (c === 13) out += '\\r';
    else if (c === 10) out += '\\n\n';
    else if (c < 32 || c >= 127) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else out += text[i];
  }
  return text.length > 0 && out.length >= max ? `${out}…(${text.length} bytes)` : out;
}

export const partial = (send: string): Step => ({ send, partial: true });

export const on = (conn: number, send: string): Step => ({ send, conn });
