import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON logs on stdout (pino); tests pass level 'silent' or set CACHALOT_OPERATOR_LOG_LEVEL to see them. */
export function createLogger(level = process.env.CACHALOT_OPERATOR_LOG_LEVEL ?? 'info', name = 'cachalot-operator'): Logger {
  return pino({ name, level });
}
