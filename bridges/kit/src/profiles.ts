/**
 * Renderer profiles: what a bridge needs to know of each renderer, in one table instead of
 * `if (plugin === 'blender')` branches — the command line for a range of frames, how outputs
 * are named (so a task's outputs can be checked frame by frame), and how to list what a scene
 * references (for asset sync). A render manager maps its own job fields (Deadline's plugin
 * info keys, a layer's service) onto a profile; the profile knows nothing of them. Pure.
 */
import * as storage from '@spillway/sdk/storage';
import { shellQuote as shq } from '@spillway/sdk/template';

/** What one cloud task renders. */
export interface RenderArgs {
  /** The executable, as given (quoted here). @default the profile's */
  readonly executable?: string;
  /** The scene as the job names it (for per-frame scenes, with `####` or `.0001.` where the frame goes). */
  readonly scene: string;
  /** Turns an input path (as the job names it) into a shell word (mapped, or under `$SPILLWAY_ASSETS_DIR`). */
  readonly inputWord: (p: string) => string;
  /**
   * Where outputs go: a file pattern (`out/frame_####`) for renderers that take a file, a
   * folder for those that take one; undefined keeps the scene's own. Quoted here.
   */
  readonly output?: string;
  readonly frameStart: number;
  /** Inclusive. */
  readonly frameEnd: number;
  /** Renderer options (Blender `threads`; Maya `renderer`, `project` as the job names it). @default none */
  readonly options?: Readonly<Record<string, string | undefined>>;
  /**
   * The GPUs of the capacity group the task runs on: the renderer's GPU flags are added
   * (`gpuArgs`), and only then. @default none (a CPU group: no GPU flag)
   */
  readonly gpu?: { readonly device: GpuDevice; readonly count: number };
}

/** The GPU device API of a GPU capacity group (`spec.gpu.device`). */
export type GpuDevice = 'CUDA' | 'OPTIX' | 'HIP';

/** A built command. */
export interface RenderCommand {
  /** A POSIX shell command line. */
  readonly command: string;
  /** Every frame of the range names an output file: verify it frame by frame. */
  readonly expectFrameNumbers: boolean;
}

/** One renderer. */
export interface RendererProfile {
  /** e.g. `blender`. */
  readonly id: string;
  /** The executable when the studio names none. */
  readonly executable: string;
  /** Whether the output flag takes a folder (Maya `-rd`) or a file pattern. */
  readonly outputKind: 'file' | 'folder';
  /** The file pattern used when outputs are redirected and the job names no file. */
  readonly defaultOutputName: string;
  /** The scene is one file for the whole job (false: one file per frame, e.g. `.ass` sequences). */
  readonly singleScene: (scene: string) => boolean;
  /**
   * Lists the files a scene references (textures, libraries, caches), asked of the renderer
   * on this host. @default none (only the scene and listed files are synced)
   */
  readonly sceneReferences?: (
    localScene: string,
    options: { readonly executable?: string; readonly abortSignal?: AbortSignal },
  ) => Promise<{ readonly files: readonly string[]; readonly missing: readonly string[] }>;
  /** The command for the range. */
  readonly command: (args: RenderArgs) => RenderCommand;
  /**
   * The flags that make the renderer render on the GPU with `device`, added to the command
   * on a GPU group only. @default none (the renderer has no GPU mode Spillway knows)
   */
  readonly gpuArgs?: (device: GpuDevice) => readonly string[];
}

/** `n` zero-padded to `width` digits (a minus sign before the padding). */
export function padFrame(n: number, width: number): string {
  return n < 0 ? '-' + String(-n).padStart(width, '0') : String(n).padStart(width, '0');
}

/** True when `p` names a frame: `####` or a `.0001.`-style number before the extension. */
export function namesFrame(p: string): boolean {
  return /#+/.test(baseName(p)) || /\.\d+\.[^./\\]+$/.test(p);
}

/**
 * `p` for frame `n`: `####` becomes the padded frame; else a `.0001.`-style number before
 * the extension is replaced (as Deadline's Arnold plugin does); else `p` unchanged.
 */
export function frameFile(p: string, n: number): string {
  if (/#+/.test(p)) return p.replace(/#+/, (h) => padFrame(n, h.length));
  return p.replace(/\.(\d+)(\.[^./\\]+)$/, (_m, d: string, ext: string) => `.${padFrame(n, d.length)}${ext}`);
}

/** The last path segment (`/` or `\` separated). */
export function baseName(p: string): string {
  const parts = p.replace(/\\/g, '/').split('/');
  return parts[parts.length - 1] ?? '';
}

/** An output file name that carries the frame: `####` kept, else `.####` before the extension. */
function framedName(name: string): string {
  if (name.includes('#')) return name;
  const dot = name.lastIndexOf('.');
  return dot > 0 ? `${name.slice(0, dot)}.####${name.slice(dot)}` : `${name}.####`;
}

const blender: RendererProfile = {
  id: 'blender',
  gpuArgs: (device) => ['--', '--cycles-device', device],
  executable: 'blender',
  outputKind: 'file',
  defaultOutputName: '####',
  singleScene: () => true,
  sceneReferences: async (scene, o) => {
    const deps = await storage.blendDependencies(scene, {
      ...(o.executable ? { blender: o.executable } : {}),
      ...(o.abortSignal ? { abortSignal: o.abortSignal } : {}),
    });
    return { files: deps.files, missing: deps.missing };
  },
  command: (a) => {
    const parts = [shq(a.executable ?? 'blender'), '-b', a.inputWord(a.scene)];
    if (a.output !== undefined) parts.push('-o', shq(a.output));
    const threads = a.options?.threads;
    if (threads && /^\d+$/.test(threads) && threads !== '0') parts.push('-t', threads);
    parts.push('-s', String(a.frameStart), '-e', String(a.frameEnd), '-a');
    // Cycles reads its device from the arguments after `--`, which must come last.
    if (a.gpu) parts.push(...blender.gpuArgs!(a.gpu.device));
    // Blender names every frame's file by its number (appending it when the pattern has no #).
    return { command: parts.join(' '), expectFrameNumbers: a.output !== undefined };
  },
};

const arnold: RendererProfile = {
  id: 'arnold',
  // kick renders on the GPU (CUDA/OptiX under the hood) with `-device gpu`.
  gpuArgs: () => ['-device', 'gpu'],
  executable: 'kick',
  outputKind: 'file',
  defaultOutputName: 'frame_####.exr',
  singleScene: (scene) => !namesFrame(scene),
  command: (a) => {
    // kick renders one .ass per process: a chunk runs one kick per frame, in order, stopping
    // at the first failure.
    const many = a.frameEnd > a.frameStart;
    const output = a.output !== undefined && many ? framedName(a.output) : a.output;
    const runs: string[] = [];
    for (let n = a.frameStart; n <= a.frameEnd; n++) {
      const parts = [
        shq(a.executable ?? 'kick'),
        '-i',
        a.inputWord(frameFile(a.scene, n)),
        '-dw',
        '-dp',
        '-nstdin',
      ];
      if (output !== undefined) parts.push('-o', shq(frameFile(output, n)));
      if (a.gpu) parts.push(...arnold.gpuArgs!(a.gpu.device));
      runs.push(parts.join(' '));
    }
    return {
      command: runs.join(' && '),
      expectFrameNumbers: output !== undefined && namesFrame(output),
    };
  },
};

const vray: RendererProfile = {
  id: 'vray',
  // V-Ray GPU: engine 5 is CUDA, 7 is RTX (OptiX).
  gpuArgs: (device) => [device === 'OPTIX' ? '-rtEngine=7' : '-rtEngine=5'],
  executable: 'vray',
  outputKind: 'file',
  defaultOutputName: 'frame.exr',
  singleScene: () => true,
  command: (a) => {
    const parts = [
      shq(a.executable ?? 'vray'),
      `-scenefile=${a.inputWord(a.scene)}`,
      `-frames=${a.frameStart}-${a.frameEnd}`,
      '-display=0',
    ];
    if (a.output !== undefined) parts.push(`-imgFile=${shq(a.output)}`);
    if (a.gpu) parts.push(...vray.gpuArgs!(a.gpu.device));
    return { command: parts.join(' '), expectFrameNumbers: false };
  },
};

const maya: RendererProfile = {
  id: 'maya',
  executable: 'Render',
  outputKind: 'folder',
  defaultOutputName: '',
  singleScene: () => true,
  command: (a) => {
    const parts = [
      shq(a.executable ?? 'Render'),
      '-r',
      shq(a.options?.renderer ?? 'file'),
      '-s',
      String(a.frameStart),
      '-e',
      String(a.frameEnd),
    ];
    if (a.output !== undefined) parts.push('-rd', shq(a.output));
    if (a.options?.project) parts.push('-proj', a.inputWord(a.options.project));
    parts.push(a.inputWord(a.scene));
    return { command: parts.join(' '), expectFrameNumbers: false };
  },
};

/** The renderers Spillway can run in the cloud, by id. */
export const RENDERERS: Readonly<Record<'blender' | 'arnold' | 'vray' | 'maya', RendererProfile>> = {
  blender,
  arnold,
  vray,
  maya,
};
