/**
 * Path mapping for launched frames: Cuebot substitutes a layer's command with the farm's
 * paths (`/mnt/show/...`, or `Z:\\projects\\...` for jobs submitted from Windows); in the
 * cloud the same storage may be mounted elsewhere (`/mnt/cloud/show/...`). The virtual host
 * rewrites the command and environment with the bridge kit's prefix rules before it submits
 * the frame, so a frame reads its inputs and writes its outputs on the farm's storage as
 * mounted where it runs.
 */
import { mapPathsInText, validatePathRules, type PathRule } from '@spillway/bridge-kit';

export { validatePathRules, type PathRule };

/**
 * Rewrites every path in `text` that starts with a rule's `from` as a whole segment
 * (`/mnt/show` matches `/mnt/show/a.blend` and `/mnt/show`, not `/mnt/showreel`; Windows
 * prefixes case-insensitively, with `/` in the result). The longest `from` wins.
 */
export function mapPaths(text: string, rules: readonly PathRule[]): string {
  return mapPathsInText(text, rules);
}
