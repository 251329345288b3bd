import {
  collectionCutoff,
  parseDurationText,
  planGarbage,
  type ContentBlobInfo,
  type ManifestBlobInfo,
} from './gc';
import { liveLocks, type SeenLock } from './locks';

const T = (minutes: number): Date => new Date(Date.UTC(2026, 0, 1, 0, minutes));
const id = (c: string): string => c.repeat(64);
const m = (c: string, at: number, sizeBytes = 100): ManifestBlobInfo => ({
  id: id(c),
  lastModified: T(at),
  sizeBytes,
});
const c = (name: string, at: number, sizeBytes = 10): ContentBlobInfo => ({
  sha256: name.repeat(64),
  lastModified: T(at),
  sizeBytes,
});

describe('planGarbage (the collection rule)', () => {
  // Manifest a (old) lists 1 and 2; manifest b (old) lists 2 and 3; manifest n (new) lists 4.
  const manifests = [m('a', 0), m('b', 10), m('n', 100)];
  const references = new Map([
    [id('a'), ['1'.repeat(64), '2'.repeat(64)]],
    [id('b'), ['2'.repeat(64), '3'.repeat(64)]],
    [id('n'), ['4'.repeat(64)]],
  ]);
  const content = [c('1', 0), c('2', 0), c('3', 10), c('4', 0), c('5', 0), c('6', 100)];

  test.each<{
    name: string;
    cutoff: number;
    pinned: string[];
    manifests: string[];
    content: string[];
    pinnedOut: string[];
  }>([
    {
      name: 'GIVEN a cutoff before everything THEN nothing goes',
      cutoff: -1,
      pinned: [],
      manifests: [],
      content: [],
      pinnedOut: [],
    },
    {
      name: 'GIVEN a cutoff after a and b THEN both go, with the content only they list, and the orphan 5',
      cutoff: 50,
      pinned: [],
      manifests: ['a', 'b'],
      content: ['1', '2', '3', '5'],
      pinnedOut: [],
    },
    {
      name: 'GIVEN b is pinned by an unfinished job THEN b and its content stay',
      cutoff: 50,
      pinned: [id('b')],
      manifests: ['a'],
      content: ['1', '5'],
      pinnedOut: [id('b')],
    },
    {
      name: 'GIVEN a cutoff after everything THEN unpinned manifests go, but content newer than the cutoff stays',
      cutoff: 100,
      pinned: [],
      manifests: ['a', 'b'],
      content: ['1', '2', '3', '5'],
      pinnedOut: [],
    },
    {
      name: 'GIVEN a pinned manifest that is no longer listed THEN what it lists still stays',
      cutoff: 50,
      pinned: [id('z')],
      manifests: ['a', 'b'],
      content: ['1', '2', '3'],
      pinnedOut: [],
    },
  ])('$name', ({ cutoff, pinned, manifests: wantM, content: wantC, pinnedOut }) => {
    // WHEN
    const refs = new Map(references);
    refs.set(id('z'), ['5'.repeat(64)]);
    const plan = planGarbage({
      manifests,
      references: refs,
      content,
      pinned: new Set(pinned),
      cutoff: T(cutoff),
    });
    // THEN
    expect(plan.deleteManifests.map((x) => x.id[0])).toEqual(wantM);
    expect(plan.deleteContent.map((x) => x.sha256[0])).toEqual(wantC);
    expect(plan.contentKept).toBe(content.length - wantC.length);
    expect(plan.pinned).toEqual(pinnedOut);
    expect(plan.contentSkipped).toBeUndefined();
  });

  test('GIVEN a kept manifest that could not be read WHEN planned THEN no content is deleted, and it says why', () => {
    const plan = planGarbage({
      manifests: [m('a', 0), m('n', 100)],
      references: new Map([[id('a'), ['1'.repeat(64)]]]),
      content: [c('1', 0), c('5', 0)],
      pinned: new Set(),
      cutoff: T(50),
    });
    expect(plan.deleteManifests.map((x) => x.id[0])).toEqual(['a']);
    expect(plan.deleteContent).toEqual([]);
    expect(plan.contentSkipped).toContain(id('n'));
  });
});

describe('liveLocks', () => {
  const seen: SeenLock[] = [
    { name: 'locks/sync-own', kind: 'sync', lastModified: T(10) },
    { name: 'locks/sync-fresh', kind: 'sync', lastModified: T(8) },
    { name: 'locks/gc-stale', kind: 'gc', lastModified: T(1) },
  ];
  test.each([
    [
      'GIVEN a 5-minute stale time THEN the fresh lock counts, the stale and own do not',
      5,
      ['locks/sync-fresh'],
    ],
    ['GIVEN a 10-minute stale time THEN both others count', 10, ['locks/sync-fresh', 'locks/gc-stale']],
  ])('%s', (_, staleMinutes, want) => {
    expect(liveLocks(seen, 'locks/sync-own', T(10), staleMinutes * 60_000).map((l) => l.name)).toEqual(want);
  });
});

describe('parseDurationText', () => {
  test.each([
    ['0', 0],
    ['0s', 0],
    ['250ms', 250],
    ['90m', 5_400_000],
    ['12h', 43_200_000],
    ['30d', 2_592_000_000],
    ['1h30m', 5_400_000],
    ['2w', 1_209_600_000],
  ])('GIVEN %j THEN %d ms', (text, ms) => {
    expect(parseDurationText(text)).toBe(ms);
  });
  test.each(['', '30', 'ten minutes', '5x', '-1h', '1h 30m'])(
    'GIVEN %j THEN it is refused naming the field',
    (text) => {
      expect(() => parseDurationText(text, '--older-than')).toThrow(/--older-than: must be a duration/);
    },
  );
});

describe('collectionCutoff (whole-second storage times)', () => {
  // A storage clock as HTTP dates give it: whole seconds, rounded down; each read moves it on by `stepMs`.
  const clockFrom = (startMs: number, stepMs: number) => {
    let t = startMs;
    const reads: number[] = [];
    const clock = async (): Promise<Date> => {
      reads.push(t);
      const shown = new Date(Math.floor(t / 1000) * 1000);
      t += stepMs;
      return shown;
    };
    return { clock, reads };
  };
  const at = (s: number): number => Date.UTC(2026, 0, 1, 0, 0, s);
  test.each([
    // name, asked at (ms past 00:00:10), olderThanMs, cutoff (s), storage reads
    ['GIVEN 0s asked mid-second THEN the cutoff is the next whole second, waited for', 400, 0, 11, 3],
    [
      'GIVEN 0s asked at the start of a second THEN still the next one (the read is rounded down)',
      0,
      0,
      11,
      5,
    ],
    ['GIVEN 250ms THEN whole seconds count: as 0s', 999, 250, 11, 2],
    ['GIVEN 1s THEN the cutoff is the second asked in, already reached: no wait', 400, 1000, 10, 1],
    ['GIVEN 30d THEN 30 days before the next whole second, no wait', 400, 2_592_000_000, 11 - 2_592_000, 1],
  ])('%s', async (_, askedMs, olderThanMs, cutoffS, reads) => {
    const { clock, reads: seen } = clockFrom(at(10) + askedMs, 300);
    const r = await collectionCutoff(clock, olderThanMs);
    expect(r.start).toEqual(new Date(at(11)));
    expect(r.cutoff).toEqual(new Date(at(cutoffS)));
    expect(r.now).toEqual(new Date(at(10)));
    expect(seen).toHaveLength(reads);
    // It returns only once the storage clock shows the cutoff: a blob written before it
    // carries an earlier second, one written after carries the cutoff's second or later.
    expect(Math.floor(seen[seen.length - 1]! / 1000) * 1000).toBeGreaterThanOrEqual(r.cutoff.getTime());
  });
});
