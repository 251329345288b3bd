import { Router, type Route } from './router';

const route = (method: Route<void, string>['method'], path: string, op: string): Route<void, string> => ({
  method,
  path,
  op,
  run: () => op,
});

const router = new Router<void, string>([
  route('GET', '/pools', 'Pool_List'),
  route('GET', '/pools/{pool}', 'Pool_Get'),
  route('DELETE', '/pools/{pool}', 'Pool_Delete'),
  route('POST', '/pools/{pool}/resize', 'Pool_Resize'),
  route('GET', '/jobs/{job}/tasks/{task}/files', 'File_ListFromTask'),
  route('GET', '/jobs/{job}/tasks/{task}/files/{*file}', 'File_GetFromTask'),
]);

describe('the emulator route table', () => {
  it.each([
    ['GET', ['pools'], 'Pool_List', {}],
    ['GET', ['pools', 'p1'], 'Pool_Get', { pool: 'p1' }],
    ['DELETE', ['pools', 'P 1'], 'Pool_Delete', { pool: 'P 1' }],
    ['POST', ['Pools', 'p1', 'Resize'], 'Pool_Resize', { pool: 'p1' }],
    ['GET', ['jobs', 'j', 'tasks', 't', 'files'], 'File_ListFromTask', { job: 'j', task: 't' }],
    [
      'GET',
      ['jobs', 'j', 'tasks', 't', 'files', 'wd', 'out', 'a.png'],
      'File_GetFromTask',
      { job: 'j', task: 't', file: 'wd/out/a.png' },
    ],
  ])('GIVEN %s /%j WHEN matched THEN %s with its parameters', (method, parts, op, params) => {
    const m = router.match(method, parts);
    expect(m).toMatchObject({ kind: 'found', params });
    expect(m.kind === 'found' && m.route.op).toBe(op);
  });

  it.each([
    ['GET', ['pools', 'p1', 'nodes', 'n1', 'x']],
    ['GET', ['nothing']],
    ['GET', ['pools', 'p1', 'resize', 'extra']],
  ])('GIVEN %s /%j, no such resource WHEN matched THEN none (400 InvalidUri)', (method, parts) => {
    expect(router.match(method, parts)).toEqual({ kind: 'none' });
  });

  it('GIVEN a known path with another verb WHEN matched THEN wrongVerb with the allowed ones (405)', () => {
    expect(router.match('PUT', ['pools', 'p1'])).toEqual({ kind: 'wrongVerb', allowed: ['GET', 'DELETE'] });
  });

  it('GIVEN the same verb and path twice WHEN the table is built THEN it is refused', () => {
    expect(() => new Router([route('GET', '/pools', 'a'), route('GET', '/Pools', 'b')])).toThrow(
      'duplicate route GET /pools',
    );
  });
});
