/**
 * Builds a tiny Blender scene for render tests: Cycles on the CPU, denoising OFF (Debian's
 * Blender lacks OpenImageDenoiser), low resolution and samples, an animated cube so each
 * frame differs. A frame renders in about a second.
 */
import { execFile, execFileSync } from 'node:child_process';

/** Options of `buildBlenderScene`. */
export interface BlenderSceneOptions {
  /** @default 'blender' on the PATH */
  readonly blender?: string;
  /** @default 64 */
  readonly resolution?: number;
  /** @default 4 */
  readonly samples?: number;
  /** Last frame of the animation. @default 24 */
  readonly frames?: number;
  /** @default 120000 */
  readonly timeoutMs?: number;
}

/** True when `blender` runs here. */
export function blenderAvailable(blender = 'blender'): boolean {
  try {
    execFileSync(blender, ['--version'], { stdio: 'ignore', timeout: 30_000 });
    return true;
  } catch {
    return false;
  }
}

/** Writes the scene to `blendPath`. */
export function buildBlenderScene(blendPath: string, options: BlenderSceneOptions = {}): Promise<void> {
  const res = options.resolution ?? 64;
  const frames = options.frames ?? 24;
  const script = [
    'import bpy',
    'bpy.ops.wm.read_factory_settings(use_empty=False)',
    's = bpy.context.scene',
    "s.render.engine = 'CYCLES'",
    "s.cycles.device = 'CPU'",
    `s.cycles.samples = ${options.samples ?? 4}`,
    's.cycles.use_denoising = False',
    'try:',
    '    s.cycles.use_preview_denoising = False',
    'except Exception:',
    '    pass',
    `s.render.resolution_x = ${res}`,
    `s.render.resolution_y = ${res}`,
    's.render.resolution_percentage = 100',
    "s.render.image_settings.file_format = 'PNG'",
    's.frame_start = 1',
    `s.frame_end = ${frames}`,
    "cube = bpy.data.objects.get('Cube')",
    'if cube is not None:',
    '    cube.rotation_euler = (0, 0, 0)',
    "    cube.keyframe_insert(data_path='rotation_euler', frame=1)",
    '    cube.rotation_euler = (0, 0, 6.283)',
    `    cube.keyframe_insert(data_path='rotation_euler', frame=${frames})`,
    `bpy.ops.wm.save_as_mainfile(filepath=${JSON.stringify(blendPath)})`,
  ].join('\n');
  return new Promise((resolve, reject) => {
    execFile(
      options.blender ?? 'blender',
      ['-b', '--factory-startup', '--python-expr', script],
      { timeout: options.timeoutMs ?? 120_000, maxBuffer: 16 * 1024 * 1024 },
      (err, _stdout, stderr) =>
        err ? reject(new Error(`blender could not build the scene: ${stderr || err.message}`)) : resolve(),
    );
  });
}
