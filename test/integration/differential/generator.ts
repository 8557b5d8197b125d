export const RANDOM_SCRIPT_COUNT = 2000;
export const RANDOM_BATCH = 100;
import { script, type Script } from './script.js';
export function generateScript(seed: number): Script { return script(`random ${seed}`, 'mn\r\n'); }
