import * as fs from 'node:fs';
import * as path from 'node:path';
import { configurationKeys } from '@spillway/sdk/config';

// The README is the product's first page: its configuration reference lists every key the
// service reads, and every file and command it names exists.

const root = path.resolve(__dirname, '..', '..');
const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');

/** The keys named in the first cell of the configuration table's rows. */
function documentedKeys(): Set<string> {
  const section = readme.split(/^## Configuration$/m)[1]?.split(/^## /m)[0] ?? '';
  const keys = new Set<string>();
  for (const line of section.split('\n')) {
    const first = /^\|([^|]*)\|/.exec(line)?.[1] ?? '';
    for (const m of first.matchAll(/`([A-Za-z][\w.]*)`/g)) keys.add(m[1]!);
  }
  return keys;
}

describe('README', () => {
  it('GIVEN the configuration loader WHEN its keys are listed THEN each has a row in the README and no row names a key it does not read', () => {
    const known = configurationKeys();
    const documented = documentedKeys();
    expect(known.length).toBeGreaterThan(20);
    expect(known.filter((k) => !documented.has(k))).toEqual([]);
    expect([...documented].filter((k) => !known.includes(k))).toEqual([]);
  });

  it('GIVEN the README WHEN it names a repository path in backquotes THEN that path exists', () => {
    const named = [
      ...readme.matchAll(/`((?:docs|examples|sdk|bridges|proto|scenarios|test)\/[\w./-]*)`/g),
    ].map((m) => m[1]!);
    expect(named.length).toBeGreaterThan(5);
    expect(named.filter((p) => !fs.existsSync(path.join(root, p)))).toEqual([]);
  });

  it('GIVEN the README WHEN it names an npm script THEN package.json defines it', () => {
    const scripts = Object.keys(
      (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: object }).scripts,
    );
    const named = [...readme.matchAll(/npm (?:run|start)(?: --silent)? ?([\w:]*)/g)].map(
      (m) => m[1] || 'start',
    );
    const benches = [...readme.matchAll(/`(bench:\w+)`/g)].map((m) => m[1]!);
    expect(named.length).toBeGreaterThan(3);
    expect([...named, ...benches].filter((s) => !scripts.includes(s))).toEqual([]);
  });
});
