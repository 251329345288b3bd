import { createLogger } from '@spillway/sdk';
import { Episodes } from './episodes';

describe('Episodes', () => {
  it('GIVEN the same problem every poll WHEN reported THEN one warning, one more when it changes, one recovery', () => {
    const lines: string[] = [];
    const ep = new Episodes(createLogger({ level: 'info', write: (l) => lines.push(l) }));
    for (let i = 0; i < 5; i++) ep.problem('wm', 'html', 'render manager answered nonsense', { i });
    ep.problem('wm', 'json', 'render manager answered nonsense', { i: 5 });
    expect(ep.has('wm')).toBe(true);
    ep.recovered('wm', 'answers again');
    ep.recovered('wm', 'answers again');
    expect(lines.map((l) => l.replace(/^\S+ /, ''))).toEqual([
      'WARN  render manager answered nonsense i=0 note=logged once until it changes or recovers',
      'WARN  render manager answered nonsense i=5 note=logged once until it changes or recovers',
      'INFO  answers again',
    ]);
  });
});
