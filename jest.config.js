// Tests are TypeScript compiled by ts-jest as ES modules. Type checking is done once for the whole tree by
// `tsc -p tsconfig.test.json` in `npm test`, so ts-jest only transpiles (isolatedModules): on a 2-core
// machine that halves the suite's wall time.
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.test.json', isolatedModules: true, diagnostics: false }],
  },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  globalSetup: '<rootDir>/test/support/build-first.mjs',
  testTimeout: 60000,
  maxWorkers: 2,
  reporters: ['default', '<rootDir>/scripts/summary-reporter.cjs'],
};
