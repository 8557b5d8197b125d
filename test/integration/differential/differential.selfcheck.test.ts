// Harness self-check: the differential suite with memcached on both sides. Two memcacheds must agree on every
// script after masking; that proves the masking hides only what legitimately differs between two correct
// servers, so that each difference the cachalot suite reports is cachalot's. While cachalot-server is not built
// this runs all random seeds; otherwise a sample (DIFF_SELFCHECK_RANDOM overrides), to keep the suite short.
import { cachalotUnavailableReason, startMemcached } from '../../support/servers.js';
import { RANDOM_SCRIPT_COUNT } from './generator.js';
import { differentialSuite } from './suite.js';

const SAMPLE_WHEN_CACHALOT_RUNS = 200;
const count = Number(process.env.DIFF_SELFCHECK_RANDOM ?? (cachalotUnavailableReason() ? RANDOM_SCRIPT_COUNT : SAMPLE_WHEN_CACHALOT_RUNS));
differentialSuite('harness self-check: memcached vs a second memcached', (flags) => startMemcached(flags), count);
