/**
 * Builds the command a Deadline plugin would run for a task's frames, from the job's plugin
 * and plugin info: Blender, CommandLine, Arnold `kick`, V-Ray standalone and Maya batch
 * render. Other plugins are not supported (the bridge leaves their jobs to the local farm).
 * Pure: the same input gives the same command, and the simulated workers of the testing
 * harness use it too.
 */
import { shellQuote } from '@spillway/sdk/template';
import { mapPath, type PathRule } from './paths';

/** Plugins Spillway can run outside Deadline. */
export const SUPPORTED_PLUGINS = ['Blender', 'CommandLine', 'Arnold', 'Vray', 'MayaBatch'] as const;

/** What a command is built from. */
export interface CommandInput {
  /** The job's plugin (`Plug`), e.g. `Blender`. Compared case-insensitively. */
  readonly plugin: string;
  /** The job's plugin info. */
  readonly pluginInfo: Readonly<Record<string, string>>;
  readonly frameStart: number;
  /** Inclusive. @default frameStart */
  readonly frameEnd?: number;
  /** Rules mapping the job's paths to where the command runs. @default none */
  readonly pathRules?: readonly PathRule[];
  /**
   * Render into this directory instead of the job's output location (the bridge's staging
   * directory for cloud frames), keeping the output file name. @default the job's output
   */
  readonly outputDirectory?: string;
  /** Executables by plugin. @default blender, kick, vray, Render */
  readonly executables?: Readonly<{ blender?: string; kick?: string; vray?: string; maya?: string }>;
  /**
   * The job's input files below this directory (as the job names it, e.g. `Z:\shots\010`)
   * were synced into a manifest: the command reads them from `$SPILLWAY_ASSETS_DIR`, where
   * job preparation placed them on the node. @default inputs through `pathRules`
   */
  readonly assetRoot?: string;
}

/** A built command, or why there is none. */
export type BuiltCommand =
  | {
      readonly supported: true;
      /** A POSIX shell command line. */
      readonly command: string;
      /** True when the outputs go into `outputDirectory` (the plugin has an output flag). */
      readonly redirectsOutput: boolean;
    }
  | { readonly supported: false; readonly reason: string };

/** Quotes a string for a POSIX shell: the SDK's one quoting function (`shellQuote`). */
export const shq: (s: string) => string = shellQuote;

const pad = (n: number, width: number): string =>
  n < 0 ? '-' + String(-n).padStart(width, '0') : String(n).padStart(width, '0');

/** Deadline CommandLine tokens: `<STARTFRAME>`, `<ENDFRAME>`, `<STARTFRAME%4>`, `<QUOTE>`. */
export function substituteDeadlineTokens(text: string, start: number, end: number): string {
  return text
    .replace(/<STARTFRAME(?:%(\d+))?>/g, (_m, w?: string) => (w ? pad(start, Number(w)) : String(start)))
    .replace(/<ENDFRAME(?:%(\d+))?>/g, (_m, w?: string) => (w ? pad(end, Number(w)) : String(end)))
    .replace(/<QUOTE>/g, '"');
}

function key(info: Readonly<Record<string, string>>, ...names: string[]): string | undefined {
  for (const n of names) {
    const hit = Object.keys(info).find((k) => k.toLowerCase() === n.toLowerCase());
    if (hit !== undefined && info[hit] !== undefined && info[hit] !== '') return info[hit];
  }
  return undefined;
}

function baseName(p: string): string {
  const parts = p.replace(/\\/g, '/').split('/');
  return parts[parts.length - 1] ?? '';
}

/**
 * `p` relative to `root` (both as the job names them: `Z:\shots\010\`, `/mnt/show/`,
 * matched as path-mapping rules match), or undefined when `p` is not below `root`.
 */
export function pathBelow(p: string, root: string): string | undefined {
  const rel = mapPath(p, [{ from: root, to: '/' }]);
  return rel !== p && rel.startsWith('/') ? rel.slice(1) : undefined;
}

/**
 * The scene (input) file a job's plugin reads: Blender and Maya `SceneFile`, V-Ray
 * `InputFilename`, Arnold `InputFile` (which may be a `####` sequence); none for others.
 */
export function sceneFileOf(plugin: string, info: Readonly<Record<string, string>>): string | undefined {
  switch (plugin.toLowerCase()) {
    case 'blender':
    case 'mayabatch':
    case 'mayacmd':
      return key(info, 'SceneFile');
    case 'vray':
      return key(info, 'InputFilename', 'SceneFile');
    case 'arnold':
      return key(info, 'InputFile');
    default:
      return undefined;
  }
}

/** Builds the command for one task. */
export function buildCommand(input: CommandInput): BuiltCommand {
  const start = input.frameStart;
  const end = input.frameEnd ?? start;
  if (!Number.isInteger(start) || !Number.isInteger(end) || end < start)
    return { supported: false, reason: `frames ${start}-${end} are not a range of whole frames` };
  const rules = input.pathRules ?? [];
  const map = (p: string): string => mapPath(p, rules);
  // An input file: from the synced assets when below the asset root, else through the rules.
  const inputPath = (p: string): string => {
    const rel = input.assetRoot !== undefined ? pathBelow(p, input.assetRoot) : undefined;
    return rel !== undefined ? `"$SPILLWAY_ASSETS_DIR"/${shq(rel)}` : shq(map(p));
  };
  const info = input.pluginInfo;
  const exe = input.executables ?? {};
  const out = (file: string | undefined, fallbackName: string): string | undefined => {
    if (input.outputDirectory !== undefined)
      return `${input.outputDirectory}/${file ? baseName(file) : fallbackName}`;
    return file ? map(file) : undefined;
  };
  const scene = sceneFileOf(input.plugin, info);
  const missing = (k: string): BuiltCommand => ({
    supported: false,
    reason: `${input.plugin} plugin info has no ${k}`,
  });

  switch (input.plugin.toLowerCase()) {
    case 'blender': {
      if (!scene) return missing('SceneFile');
      const o = out(key(info, 'OutputFile'), '####');
      const parts = [shq(exe.blender ?? 'blender'), '-b', inputPath(scene)];
      if (o) parts.push('-o', shq(o));
      const threads = key(info, 'Threads');
      if (threads && /^\d+$/.test(threads) && threads !== '0') parts.push('-t', threads);
      parts.push('-s', String(start), '-e', String(end), '-a');
      return {
        supported: true,
        command: parts.join(' '),
        redirectsOutput: o !== undefined && input.outputDirectory !== undefined,
      };
    }
    case 'commandline': {
      const executable = key(info, 'Executable');
      if (!executable) return missing('Executable');
      const args = substituteDeadlineTokens(key(info, 'Arguments') ?? '', start, end);
      const dir = key(info, 'StartupDirectory');
      const cmd = `${shq(map(executable))}${args ? ' ' + args : ''}`;
      return {
        supported: true,
        command: dir ? `cd ${shq(map(dir))} && ${cmd}` : cmd,
        redirectsOutput: false,
      };
    }
    case 'arnold': {
      if (!scene) return missing('InputFile');
      // Per-frame .ass sequences carry #### where the frame number goes.
      const ass = scene.replace(/#+/, (h) => pad(start, h.length));
      const parts = [shq(exe.kick ?? 'kick'), '-i', inputPath(ass), '-dw', '-dp', '-nstdin'];
      const o = out(key(info, 'OutputFile'), `frame_${pad(start, 4)}.exr`);
      if (o && (input.outputDirectory !== undefined || key(info, 'OutputFile'))) parts.push('-o', shq(o));
      return {
        supported: true,
        command: parts.join(' '),
        redirectsOutput: input.outputDirectory !== undefined,
      };
    }
    case 'vray': {
      if (!scene) return missing('InputFilename');
      const parts = [
        shq(exe.vray ?? 'vray'),
        `-scenefile=${inputPath(scene)}`,
        `-frames=${start}-${end}`,
        '-display=0',
      ];
      const given = key(info, 'OutputFilename');
      const o = given || input.outputDirectory !== undefined ? out(given, 'frame.exr') : undefined;
      if (o) parts.push(`-imgFile=${shq(o)}`);
      return {
        supported: true,
        command: parts.join(' '),
        redirectsOutput: o !== undefined && input.outputDirectory !== undefined,
      };
    }
    case 'mayabatch':
    case 'mayacmd': {
      if (!scene) return missing('SceneFile');
      const parts = [
        shq(exe.maya ?? 'Render'),
        '-r',
        shq(key(info, 'Renderer') ?? 'file'),
        '-s',
        String(start),
        '-e',
        String(end),
      ];
      const dir =
        input.outputDirectory ??
        (key(info, 'OutputFilePath') ? map(key(info, 'OutputFilePath')!) : undefined);
      if (dir) parts.push('-rd', shq(dir));
      const proj = key(info, 'ProjectPath');
      if (proj) parts.push('-proj', inputPath(proj));
      parts.push(inputPath(scene));
      return {
        supported: true,
        command: parts.join(' '),
        redirectsOutput: input.outputDirectory !== undefined,
      };
    }
    default:
      return {
        supported: false,
        reason: `plugin "${input.plugin}" is not one Spillway can run (${SUPPORTED_PLUGINS.join(', ')})`,
      };
  }
}
