/**
 * A tiny Blender scene for tests and demos: Cycles on the CPU with denoising OFF (the Debian
 * build has no OpenImageDenoiser), a small resolution and few samples so a frame renders in
 * about a second, and a spinning cube so every frame differs.
 */
import { execFile, execFileSync } from 'node:child_process';

/** Options of `makeBlenderScene`. */
export interface BlenderSceneOptions {
  /** @default 'blender' on the PATH */
  readonly blender?: string;
  /** Width and height in pixels. @default 64 */
  readonly resolution?: number;
  /** Cycles samples. @default 4 */
  readonly samples?: number;
  /** Last frame of the animation. @default 24 */
  readonly frames?: number;
  /** @default 120000 */
  readonly timeoutMs?: number;
  /** Image files to create (absolute paths) and reference from the scene, as textures are. */
  readonly textures?: readonly string[];
  /** Image paths to reference without creating them (a scene with missing files). */
  readonly missingTextures?: readonly string[];
}

/** True when `blender` runs here. */
export function hasBlender(blender = 'blender'): boolean {
  try {
    execFileSync(blender, ['--version'], { stdio: 'ignore', timeout: 30_000 });
    return true;
  } catch {
    return false;
  }
}

/** The Python expression that builds the scene and saves it to `blendPath`. */
export function blenderSceneScript(blendPath: string, options: BlenderSceneOptions = {}): string {
  const res = options.resolution ?? 64;
  const frames = options.frames ?? 24;
  return [
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
    'import os',
    `for i, p in enumerate(${JSON.stringify(options.textures ?? [])}):`,
    '    os.makedirs(os.path.dirname(p), exist_ok=True)',
    "    g = bpy.data.images.new('made%d' % i, 4, 4)",
    '    g.filepath_raw = p',
    "    g.file_format = 'PNG'",
    '    g.save()',
    '    bpy.data.images.load(p).use_fake_user = True',
    `for i, p in enumerate(${JSON.stringify(options.missingTextures ?? [])}):`,
    "    g = bpy.data.images.new('gone%d' % i, 4, 4)",
    "    g.source = 'FILE'",
    '    g.filepath = p',
    '    g.use_fake_user = True',
    `bpy.ops.wm.save_as_mainfile(filepath=${JSON.stringify(blendPath)})`,
  ].join('\n');
}

/** Builds the scene with `blender -b --python-expr` and writes it to `blendPath`. */
export function makeBlenderScene(blendPath: string, options: BlenderSceneOptions = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      options.blender ?? 'blender',
      ['-b', '--factory-startup', '--python-expr', blenderSceneScript(blendPath, options)],
      { timeout: options.timeoutMs ?? 120_000, maxBuffer: 16 * 1024 * 1024 },
      (err, _stdout, stderr) =>
        err ? reject(new Error(`blender could not build the scene: ${stderr || err.message}`)) : resolve(),
    );
  });
}
