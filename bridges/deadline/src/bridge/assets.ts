/**
 * Which of a Deadline job's files go to the cloud, and syncing them (the bridge kit's
 * `AssetSyncer`): the scene (when it is one file), the files its `SpillwayAssets`
 * extra-info key lists (`;` separated, below the scene's directory), and what the renderer
 * profile finds the scene references (Blender: textures, libraries, caches). Jobs without a
 * single scene file (CommandLine, Arnold `.ass` sequences) are not synced.
 */
import { AssetSyncer, mapPath, type RendererProfile } from '@spillway/bridge-kit';
import * as storage from '@spillway/sdk/storage';
import { pathBelow, pluginOf, sceneFileOf } from '../commands';
import type { DeadlineJob } from '../webservice';
import type { BridgeContext } from './context';

/** The extra-info key listing more input files of a job, `;` separated. */
export const ASSETS_EXTRA_INFO_KEY = 'SpillwayAssets';

/** A job's synced inputs: the manifest, and the directory (as the job names it) it holds. */
export interface JobAssets {
  readonly manifestId: string;
  readonly root: string;
}

/** Syncs jobs' inputs, once per job and run. */
export class JobAssetSync {
  private readonly syncer: AssetSyncer;

  constructor(private readonly ctx: BridgeContext) {
    this.syncer = new AssetSyncer(ctx.burst, { logger: ctx.log, abortSignal: ctx.signal });
  }

  /** Forgets jobs that left the active list. */
  retain(live: ReadonlySet<string>): void {
    this.syncer.retain(live);
  }

  /** The job's synced inputs, or undefined for a job whose inputs are not synced. */
  async of(job: DeadlineJob): Promise<JobAssets | undefined> {
    const row = pluginOf(job.plugin);
    const scene = sceneFileOf(job.plugin, job.pluginInfo);
    if (!row?.renderer || !scene || !row.renderer.singleScene(scene)) return undefined;
    // A scene on a SHARED location is read through the group's mount: nothing is uploaded.
    if (storage.placePath(scene, this.ctx.config.storageLocations).storage === 'shared') return undefined;
    const sep = Math.max(scene.lastIndexOf('/'), scene.lastIndexOf('\\'));
    if (sep < 0) return undefined; // no directory: nothing to sync it from
    const root = scene.slice(0, sep + 1); // with its separator: `Z:\` maps as a drive root
    const rules = this.ctx.config.pathRules;
    const localRoot = mapPath(root, rules);
    const below = (p: string): string => {
      const rel = pathBelow(p, root);
      if (rel === undefined)
        throw new storage.PathEscapeError(
          ASSETS_EXTRA_INFO_KEY,
          p,
          `must be below the scene's directory ${root}`,
        );
      return rel;
    };
    const extra = (job.extraInfo[ASSETS_EXTRA_INFO_KEY] ?? '')
      .split(';')
      .map((p) => p.trim())
      .filter((p) => p !== '');
    const files = [below(scene), ...extra.map(below)];
    if (row.renderer.sceneReferences)
      files.push(
        ...(await this.references(job, row.renderer.sceneReferences, mapPath(scene, rules), localRoot)),
      );
    const synced = await this.syncer.sync({
      key: job.id,
      name: job.name,
      localRoot,
      files: [...new Set(files)],
    });
    this.ctx.counters.assetBytesUploaded += synced.sentBytes;
    return { manifestId: synced.manifestId, root };
  }

  /**
   * What the scene references, asked of the renderer on this host: the files below the
   * scene's directory, relative to it. Files elsewhere, missing files, or no renderer here
   * are logged; the frames render without them.
   */
  private async references(
    job: DeadlineJob,
    list: NonNullable<RendererProfile['sceneReferences']>,
    localScene: string,
    localRoot: string,
  ): Promise<string[]> {
    const row = pluginOf(job.plugin)!;
    const exe = row.executableKey ? this.ctx.config.executables[row.executableKey] : undefined;
    let deps: { readonly files: readonly string[]; readonly missing: readonly string[] };
    try {
      deps = await list(localScene, { ...(exe ? { executable: exe } : {}), abortSignal: this.ctx.signal });
    } catch (err) {
      this.ctx.log.warn("could not list the scene's references; syncing the scene alone", {
        job: job.id,
        error: (err as Error).message,
      });
      return [];
    }
    const { inside, outside } = storage.pathsBelow(localRoot, [...deps.files]);
    if (outside.length > 0 || deps.missing.length > 0)
      this.ctx.log.warn('scene references not synced', {
        job: job.id,
        outsideSceneDir: outside,
        missing: deps.missing,
      });
    return inside;
  }
}
