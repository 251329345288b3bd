import { bookFrames, type BookableFrame, type BookableHost, type BookableSubscription } from './booking';

const host = (name: string, over: Partial<BookableHost> = {}): BookableHost => ({
  name,
  allocation: 'local.general',
  tags: ['general'],
  up: true,
  open: true,
  idleUnits: 100,
  idleMemoryKb: 1_000_000,
  ...over,
});
const frame = (id: string, over: Partial<BookableFrame> = {}): BookableFrame => ({
  frameId: id,
  jobId: 'j1',
  show: 'pipe',
  priority: 50,
  order: Number(id.replace(/\D/g, '')),
  layerTags: ['general'],
  minUnits: 100,
  minMemoryKb: 1000,
  ...over,
});
const sub = (allocation: string, burstUnits = 10_000, reservedUnits = 0): BookableSubscription => ({
  show: 'pipe',
  allocation,
  burstUnits,
  reservedUnits,
});

describe('bookFrames', () => {
  it.each<[string, BookableHost[], BookableFrame[], BookableSubscription[], [string, string][]]>([
    [
      'one frame per idle core',
      [host('a'), host('b')],
      [frame('f1'), frame('f2'), frame('f3')],
      [sub('local.general')],
      [
        ['f1', 'a'],
        ['f2', 'b'],
      ],
    ],
    [
      'a host with 2 cores takes 2',
      [host('a', { idleUnits: 200 })],
      [frame('f1'), frame('f2')],
      [sub('local.general')],
      [
        ['f1', 'a'],
        ['f2', 'a'],
      ],
    ],
    [
      'no shared tag, no booking',
      [host('a', { tags: ['burst'] })],
      [frame('f1')],
      [sub('local.general')],
      [],
    ],
    [
      'a locked host is skipped',
      [host('a', { open: false }), host('b')],
      [frame('f1')],
      [sub('local.general')],
      [['f1', 'b']],
    ],
    ['a down host is skipped', [host('a', { up: false })], [frame('f1')], [sub('local.general')], []],
    [
      'no subscription to the allocation, no booking',
      [host('a', { allocation: 'cloud.burst' })],
      [frame('f1')],
      [sub('local.general')],
      [],
    ],
    ['burst reached, no booking', [host('a')], [frame('f1')], [sub('local.general', 100, 100)], []],
    [
      'not enough memory, no booking',
      [host('a', { idleMemoryKb: 10 })],
      [frame('f1')],
      [sub('local.general')],
      [],
    ],
    [
      'higher priority first',
      [host('a')],
      [frame('f1', { jobId: 'low', priority: 10 }), frame('f2', { jobId: 'high', priority: 90 })],
      [sub('local.general')],
      [['f2', 'a']],
    ],
    [
      'a burst-tagged layer overflows onto the burst host',
      [host('a'), host('cloud', { allocation: 'cloud.burst', tags: ['burst'], idleUnits: 400 })],
      [frame('f1', { layerTags: ['general', 'burst'] }), frame('f2', { layerTags: ['general', 'burst'] })],
      [sub('local.general'), sub('cloud.burst')],
      [
        ['f1', 'a'],
        ['f2', 'cloud'],
      ],
    ],
  ])('GIVEN %s WHEN booking THEN %j', (_name, hosts, frames, subs, expected) => {
    const got = bookFrames(hosts, frames, subs).map((b) => [b.frameId, b.host]);
    expect(got).toEqual(expected);
  });
});
