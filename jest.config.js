// Two projects: `unit` (beside the code, pure and fast) and `integration` (under test/,
// against real Azurite, real gRPC servers on port 0, real child processes).
'use strict';
const fs = require('node:fs');
const path = require('node:path');

/** Roots that exist (a package with no code yet has no src/ in a fresh clone). */
const existing = (dirs) =>
  dirs.filter((d) => fs.existsSync(path.join(__dirname, d))).map((d) => `<rootDir>/${d}`);

/** Source imports of the workspace packages resolve to their TypeScript, so no build is needed. */
const moduleNameMapper = {
  '^@spillway/sdk$': '<rootDir>/sdk/src/index.ts',
  '^@spillway/sdk/(.*)$': '<rootDir>/sdk/src/$1',
  '^@spillway/bridge-kit$': '<rootDir>/bridges/kit/src/index.ts',
  '^@spillway/bridge-deadline$': '<rootDir>/bridges/deadline/src/index.ts',
  '^@spillway/bridge-deadline/(.*)$': '<rootDir>/bridges/deadline/src/$1',
  '^@spillway/bridge-opencue$': '<rootDir>/bridges/opencue/src/index.ts',
  '^@spillway/bridge-opencue/(.*)$': '<rootDir>/bridges/opencue/src/$1',
};

const transform = {
  '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.jest.json' }],
};

const common = { rootDir: __dirname, testEnvironment: 'node', transform, moduleNameMapper };

/** @type {import('jest').Config} */
module.exports = {
  projects: [
    {
      ...common,
      displayName: 'unit',
      roots: existing(['sdk/src', 'bridges/kit/src', 'bridges/deadline/src', 'bridges/opencue/src']),
      testMatch: ['**/*.test.ts'],
    },
    {
      ...common,
      displayName: 'integration',
      roots: ['<rootDir>/test'],
      testMatch: ['**/*.test.ts'],
      setupFilesAfterEnv: ['<rootDir>/test/setup.ts'],
    },
  ],
  reporters: ['default', '<rootDir>/scripts/jest-summary-reporter.js'],
};
