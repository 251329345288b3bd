/**
 * Tests that need a system tool (Microsoft's `az` CLI, the Python Batch SDK, protoc, ...).
 * `.ci/run` installs every such tool, so under CI a missing one is a broken machine: those
 * tests fail, naming the tool, instead of being skipped. Elsewhere (a developer's machine
 * without the tool) they are skipped, and the reason is in the name of the skipped suite.
 */

/** True when the tests run under CI (`.ci/run` exports `CI=true`). */
export function underCi(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env.CI?.trim().toLowerCase();
  return v !== undefined && v !== '' && v !== 'false' && v !== '0';
}

/**
 * `describe` when `missing` is undefined (the tool is here). Otherwise, under CI, a suite
 * whose one test fails with `missing`; elsewhere a skipped suite whose name says `missing`.
 *
 * @param missing why the tool cannot run (say what to install), or undefined when it can
 */
export function describeWithTool(
  missing: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): (name: string, body: () => void) => void {
  if (missing === undefined) return (name, body) => describe(name, body);
  if (underCi(env)) {
    return (name) =>
      describe(name, () => {
        it(`needs a tool CI installs: ${missing}`, () => {
          throw new Error(`${missing}: .ci/run installs it, so under CI this test must run`);
        });
      });
  }
  return (name, body) => describe.skip(`${name} [skipped: ${missing}]`, body);
}
