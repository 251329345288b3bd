/**
 * Builds the command a Deadline plugin would run for a task's frames, from the job's plugin
 * and plugin info. Each supported plugin is one row of `DEADLINE_PLUGINS`: which renderer
 * profile (from the bridge kit) runs it and which plugin-info keys name its scene, its output
 * and its options. CommandLine is the one plugin without a renderer: its executable and
 * arguments are Deadline's own, with Deadline's tokens substituted and paths mapped. Other
 * plugins are not supported (the bridge leaves their jobs to the local farm). Pure: the same
 * input gives the same command, and the simulated workers of the testing harness use it too.
 */
import {
  baseName,
  mapPath,
  mapPathsInText,
  padFrame,
  pathWord,
  RENDERERS,
  type GpuDevice,
  type PathRule,
  type RendererProfile,
} from '@spillway/bridge-kit';
import { shellQuote as shq } from '@spillway/sdk/template';

/** How one Deadline plugin maps onto a renderer. */
export interface DeadlinePlugin {
  /** The plugin's name as Deadline spells it. */
  readonly name: string;
  /** The renderer that runs it; none for CommandLine. */
  readonly renderer?: RendererProfile;
  /** Plugin-info keys naming the scene, first present wins. */
  readonly sceneKeys: readonly string[];
  /** Plugin-info key naming the output (a file pattern, or a folder for folder renderers). */
  readonly outputKey?: string;
  /** Renderer options from plugin-info keys: option name → key. */
  readonly optionKeys?: Readonly<Record<string, string>>;
  /** Which executable of the `executables` setting runs it. */
  readonly executableKey?: keyof Executables;
}

/** Executables of cloud frames by renderer. */
export type Executables = Readonly<{ blender?: string; kick?: string; vray?: string; maya?: string }>;

/** The plugins Spillway can run outside Deadline, by lower-case name. */
export const DEADLINE_PLUGINS: Readonly<Record<string, DeadlinePlugin>> = {
  blender: {
    name: 'Blender',
    renderer: RENDERERS.blender,
    sceneKeys: ['SceneFile'],
    outputKey: 'OutputFile',
    optionKeys: { threads: 'Threads' },
    executableKey: 'blender',
  },
  commandline: { name: 'CommandLine', sceneKeys: [] },
  arnold: {
    name: 'Arnold',
    renderer: RENDERERS.arnold,
    sceneKeys: ['InputFile'],
    outputKey: 'OutputFile',
    executableKey: 'kick',
  },
  vray: {
    name: 'Vray',
    renderer: RENDERERS.vray,
    sceneKeys: ['InputFilename', 'SceneFile'],
    outputKey: 'OutputFilename',
    executableKey: 'vray',
  },
  mayabatch: {
    name: 'MayaBatch',
    renderer: RENDERERS.maya,
    sceneKeys: ['SceneFile'],
    outputKey: 'OutputFilePath',
    optionKeys: { renderer: 'Renderer', project: 'ProjectPath' },
    executableKey: 'maya',
  },
  mayacmd: {
    name: 'MayaCmd',
    renderer: RENDERERS.maya,
    sceneKeys: ['SceneFile'],
    outputKey: 'OutputFilePath',
    optionKeys: { renderer: 'Renderer', project: 'ProjectPath' },
    executableKey: 'maya',
  },
};

/** Plugins Spillway can run outside Deadline. */
export const SUPPORTED_PLUGINS = Object.values(DEADLINE_PLUGINS).map((p) => p.name);

/** The table row of a plugin (compared case-insensitively), or undefined. */
export function pluginOf(plugin: string): DeadlinePlugin | undefined {
  return DEADLINE_PLUGINS[plugin.toLowerCase()];
}

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
   * Render into this directory instead of the job's output location (cloud frames render
   * into their task's `out/`), keeping the output file name. @default the job's output
   */
  readonly outputDirectory?: string;
  /** Executables by renderer. @default blender, kick, vray, Render */
  readonly executables?: Executables;
  /**
   * The job's input files below this directory (as the job names it, e.g. `Z:\shots\010`)
   * were synced into a manifest: the command reads them from `$SPILLWAY_ASSETS_DIR`, where
   * job preparation placed them on the node. @default inputs through `pathRules`
   */
  readonly assetRoot?: string;
  /** The GPUs of the capacity group the task runs on: the renderer's GPU flags are added. @default none */
  readonly gpu?: { readonly count: number; readonly device: GpuDevice };
}

/** A built command, or why there is none. */
export type BuiltCommand =
  | {
      readonly supported: true;
      /** A POSIX shell command line. */
      readonly command: string;
      /** True when the outputs go into `outputDirectory` (the plugin has an output flag). */
      readonly redirectsOutput: boolean;
      /** Every frame of the task names an output file: verify the outputs frame by frame. */
      readonly expectFrameNumbers: boolean;
    }
  | { readonly supported: false; readonly reason: string };

/** Deadline CommandLine tokens: `<STARTFRAME>`, `<ENDFRAME>`, `<STARTFRAME%4>`, `<QUOTE>`. */
export function substituteDeadlineTokens(text: string, start: number, end: number): string {
  return text
    .replace(/<STARTFRAME(?:%(\d+))?>/g, (_m, w?: string) => (w ? padFrame(start, Number(w)) : String(start)))
    .replace(/<ENDFRAME(?:%(\d+))?>/g, (_m, w?: string) => (w ? padFrame(end, Number(w)) : String(end)))
    .replace(/<QUOTE>/g, '"');
}

/** A plugin-info value by key (case-insensitive), first non-empty of `names`. */
export function infoValue(info: Readonly<Record<string, string>>, ...names: string[]): string | undefined {
  for (const n of names) {
    const hit = Object.keys(info).find((k) => k.toLowerCase() === n.toLowerCase());
    if (hit !== undefined && info[hit] !== undefined && info[hit] !== '') return info[hit];
  }
  return undefined;
}

/**
 * `p` relative to `root` (both as the job names them: `Z:\shots\010\`, `/mnt/show/`,
 * matched as path-mapping rules match), or undefined when `p` is not below `root`.
 */
export function pathBelow(p: string, root: string): string | undefined {
  const rel = mapPath(p, [{ from: root, to: '/' }]);
  return rel !== p && rel.startsWith('/') ? rel.slice(1) : undefined;
}

/** The scene (input) file a job's plugin reads (Arnold's may be a per-frame sequence); none for others. */
export function sceneFileOf(plugin: string, info: Readonly<Record<string, string>>): string | undefined {
  const row = pluginOf(plugin);
  return row && row.sceneKeys.length > 0 ? infoValue(info, ...row.sceneKeys) : undefined;
}

/** Builds the command for one task. */
export function buildCommand(input: CommandInput): BuiltCommand {
  const start = input.frameStart;
  const end = input.frameEnd ?? start;
  if (!Number.isInteger(start) || !Number.isInteger(end) || end < start)
    return { supported: false, reason: `frames ${start}-${end} are not a range of whole frames` };
  const row = pluginOf(input.plugin);
  if (!row)
    return {
      supported: false,
      reason: `plugin "${input.plugin}" is not one Spillway can run (${SUPPORTED_PLUGINS.join(', ')})`,
    };
  const rules = input.pathRules ?? [];
  const info = input.pluginInfo;
  const missing = (k: string): BuiltCommand => ({
    supported: false,
    reason: `${input.plugin} plugin info has no ${k}`,
  });

  if (!row.renderer) {
    // CommandLine: Deadline's tokens, then every path in the arguments mapped like a scene path.
    const executable = infoValue(info, 'Executable');
    if (!executable) return missing('Executable');
    const args = mapPathsInText(
      substituteDeadlineTokens(infoValue(info, 'Arguments') ?? '', start, end),
      rules,
    );
    const dir = infoValue(info, 'StartupDirectory');
    const cmd = `${pathWord(executable, rules)}${args ? ' ' + args : ''}`;
    return {
      supported: true,
      command: dir ? `cd ${pathWord(dir, rules)} && ${cmd}` : cmd,
      redirectsOutput: false,
      expectFrameNumbers: false,
    };
  }

  const renderer = row.renderer;
  const scene = infoValue(info, ...row.sceneKeys);
  if (!scene) return missing(row.sceneKeys[0]!);
  // An input file: from the synced assets when below the asset root, else through the rules.
  const inputWord = (p: string): string => {
    const rel = input.assetRoot !== undefined ? pathBelow(p, input.assetRoot) : undefined;
    return rel !== undefined ? `"$SPILLWAY_ASSETS_DIR"/${shq(rel)}` : pathWord(p, rules);
  };
  const given = row.outputKey ? infoValue(info, row.outputKey) : undefined;
  let output: string | undefined;
  if (input.outputDirectory !== undefined)
    output =
      renderer.outputKind === 'folder'
        ? input.outputDirectory
        : `${input.outputDirectory}/${given ? baseName(given) : renderer.defaultOutputName}`;
  else if (given) output = mapPath(given, rules);
  const options: Record<string, string | undefined> = {};
  for (const [name, key] of Object.entries(row.optionKeys ?? {})) options[name] = infoValue(info, key);
  const exe = row.executableKey ? input.executables?.[row.executableKey] : undefined;
  const built = renderer.command({
    ...(exe ? { executable: exe } : {}),
    scene,
    inputWord,
    ...(output !== undefined ? { output } : {}),
    frameStart: start,
    frameEnd: end,
    options,
    ...(input.gpu ? { gpu: input.gpu } : {}),
  });
  return {
    supported: true,
    command: built.command,
    redirectsOutput: input.outputDirectory !== undefined,
    expectFrameNumbers: built.expectFrameNumbers && input.outputDirectory !== undefined,
  };
}
