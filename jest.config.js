// Two projects: `unit` (beside the code, pure and fast) and `integration` (under test/,
// against real Azurite, real gRPC servers on port 0, real child processes).
'use strict';

/** Source imports of the workspace packages resolve to their TypeScript, so no build is needed. */
const moduleNameMapper = {
  '^@spillway/sdk$': '<rootDir>/sdk/src/index.ts',
  '^@spillway/sdk/(.*)$': '<rootDir>/sdk/src/$1',
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
      roots: ['<rootDir>/sdk/src', '<rootDir>/bridges/deadline/src', '<rootDir>/bridges/opencue/src'],
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
