// Differential conformance test: the same scripts go to Debian's memcached 1.6.18 and to
// cachalot-server, whole and in 1-to-3-byte pieces, and the replies must match byte for byte after masking
// (replies.ts, README.md). differential.selfcheck.test.ts runs the same suite memcached against memcached.
import { describe, test } from '@jest/globals';
import { cachalotUnavailableReason, startCachalot } from '../../support/servers.js';
import { RANDOM_SCRIPT_COUNT } from './generator.js';
import { differentialSuite } from './suite.js';
import { requirePrereq } from '../../support/prereq.js';

const reason = cachalotUnavailableReason();
if (reason) {
  requirePrereq('cachalot-server build (dist/)', false, reason).describe('memcached vs cachalot-server', () => {
    test('differential scripts', () => undefined);
  });
} else {
  differentialSuite('memcached vs cachalot-server', (flags) => startCachalot(flags), RANDOM_SCRIPT_COUNT);
}
