import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HostStateStore } from './state';

describe('HostStateStore', () => {
  it('GIVEN a saved launch and cursor WHEN a new store opens the file THEN it sees both', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ocstate-'));
    const file = path.join(dir, 'host.json');
    const a = new HostStateStore(file);
    a.update((s) => {
      s.cursor = '42';
      s.generations.f1 = 1;
    });
    const b = new HostStateStore(file);
    expect(b.current.cursor).toBe('42');
    expect(b.current.generations).toEqual({ f1: 1 });
    expect(fs.existsSync(`${file}.tmp`)).toBe(false);
    fs.rmSync(dir, { recursive: true });
  });

  it('GIVEN no file WHEN opened THEN the state is empty', () => {
    const s = new HostStateStore(path.join(os.tmpdir(), `none-${process.pid}-${Date.now()}`, 'x.json'));
    expect(s.current).toEqual({ version: 1, cursor: '', generations: {}, launches: {} });
  });

  it('GIVEN a corrupt state file WHEN opened THEN the error names stateDir and the file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ocstate-'));
    const file = path.join(dir, 'host.json');
    fs.writeFileSync(file, '{"version":1,');
    expect(() => new HostStateStore(file)).toThrow(/stateDir: holds a state file that is not JSON/);
    fs.rmSync(dir, { recursive: true });
  });
});
