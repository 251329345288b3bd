import { ValidationError } from '../errors';
import { mapPath } from './paths';
import {
  placePath,
  sharedPathRules,
  shellWordForPath,
  validateStorageLocations,
  type StorageLocation,
} from './profiles';

const locations: StorageLocation[] = [
  { path: 'P:\\', storage: 'shared', mount: 'projects' },
  { path: '/mnt/projects', storage: 'shared', mount: 'projects' },
  { path: '\\\\filer\\show\\cache', storage: 'shared', mount: 'cache', mountSubpath: 'show' },
  { path: 'P:\\scratch', storage: 'local' },
];

describe('storage profiles', () => {
  it.each<[string, ReturnType<typeof placePath>['storage'], string | undefined]>([
    ['P:\\proj\\shot.blend', 'shared', 'proj/shot.blend'],
    ['p:/proj/tex/a.png', 'shared', 'proj/tex/a.png'],
    ['/mnt/projects/proj/shot.blend', 'shared', 'proj/shot.blend'],
    ['/mnt/projectsX/a', 'local', undefined],
    ['\\\\filer\\show\\cache\\sim\\a.vdb', 'shared', 'show/sim/a.vdb'],
    ['P:\\scratch\\tmp.exr', 'local', undefined],
    ['D:\\elsewhere\\a.blend', 'local', undefined],
  ])('places %s: %s %s', (p, storage, inMount) => {
    const got = placePath(p, locations);
    expect(got.storage).toBe(storage);
    if (got.storage === 'shared') expect(got.pathInMount).toBe(inMount);
  });

  it('maps SHARED locations onto the mount variable, as a shell word the node expands', () => {
    const rules = sharedPathRules(locations);
    expect(mapPath('P:\\proj\\my shot.blend', rules)).toBe('$SPILLWAY_MOUNT_PROJECTS/proj/my shot.blend');
    expect(shellWordForPath(mapPath('P:\\proj\\my shot.blend', rules))).toBe(
      `"$SPILLWAY_MOUNT_PROJECTS"/'proj/my shot.blend'`,
    );
    expect(shellWordForPath(mapPath('\\\\filer\\show\\cache\\a', rules))).toBe(
      `"$SPILLWAY_MOUNT_CACHE"/show/a`,
    );
    expect(shellWordForPath('/opt/blender/blender')).toBe('/opt/blender/blender');
    expect(shellWordForPath('/opt/my blender')).toBe(`'/opt/my blender'`);
  });

  it.each<[unknown, string]>([
    [{}, 'storageLocations'],
    [[{ path: 'relative', storage: 'shared', mount: 'p' }], 'storageLocations[0].path'],
    [[{ path: 'P:\\', storage: 'mounted', mount: 'p' }], 'storageLocations[0].storage'],
    [[{ path: 'P:\\', storage: 'shared' }], 'storageLocations[0].mount'],
    [
      [{ path: 'P:\\', storage: 'shared', mount: 'p', mountSubpath: '../x' }],
      'storageLocations[0].mountSubpath',
    ],
    [
      [
        { path: 'P:\\', storage: 'local' },
        { path: 'p:/', storage: 'local' },
      ],
      'storageLocations[1].path',
    ],
    [[{ path: 'P:\\', storage: 'local', mnt: 'x' }], 'storageLocations[0].mnt'],
  ])('refuses %j naming %s', (value, field) => {
    let err: unknown;
    try {
      validateStorageLocations('storageLocations', value);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).field).toBe(field);
  });
});
