import { RENDERERS, type RenderArgs } from './profiles';

// GIVEN the same task of a job WHEN its command is built for a GPU group and for a CPU group
// THEN only the GPU group's carries the renderer's GPU flags.

const args: RenderArgs = {
  scene: '/shots/010.blend',
  inputWord: (p) => `'${p}'`,
  output: 'out/frame_####',
  frameStart: 1,
  frameEnd: 2,
};

test.each([
  ['blender', 'OPTIX', ' -a -- --cycles-device OPTIX'],
  ['blender', 'CUDA', ' -a -- --cycles-device CUDA'],
  ['arnold', 'CUDA', ' -device gpu'],
  ['vray', 'OPTIX', ' -rtEngine=7'],
  ['vray', 'CUDA', ' -rtEngine=5'],
] as const)('%s on a %s group', (id, device, flag) => {
  const profile = RENDERERS[id];
  const gpu = profile.command({ ...args, gpu: { device, count: 1 } }).command;
  const cpu = profile.command(args).command;
  expect(gpu).toContain(flag);
  expect(cpu).not.toContain(flag.trim());
  if (id === 'blender') expect(gpu.endsWith(flag)).toBe(true); // Cycles' arguments come last, after --
});

test('Maya has no GPU flags Spillway knows: the command is the same on a GPU group', () => {
  expect(RENDERERS.maya.gpuArgs).toBeUndefined();
  expect(RENDERERS.maya.command({ ...args, gpu: { device: 'CUDA', count: 1 } }).command).toBe(
    RENDERERS.maya.command(args).command,
  );
});
