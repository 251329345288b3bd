/**
 * Path mapping for paths a Deadline job carries (`Z:\projects\shot.blend` on a Windows
 * submitter) so they work where the frame runs (`/mnt/projects/shot.blend`): the SDK's
 * storage path rules (`storage.mapPath`), so bridges and asset sync map paths alike.
 */
import * as storage from '@spillway/sdk/storage';

/** One rule: a path starting with `from` starts with `to` instead (`storage.PathMappingRule`). */
export type PathRule = storage.PathMappingRule;

/**
 * Applies the first rule whose `from` is a whole-segment prefix of `p` (case-insensitive for
 * Windows-like prefixes); the result uses `/`. A path no rule matches comes back unchanged,
 * except that a Windows-like path gets `/` separators.
 */
export function mapPath(p: string, rules: readonly PathRule[]): string {
  return storage.mapPath(p, rules);
}
