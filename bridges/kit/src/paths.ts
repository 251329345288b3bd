/**
 * Path mapping for what a render manager hands a bridge: a job's paths as its submitter
 * named them (`Z:\projects\shot.blend`, `\\filer\show\a.exr`, `/mnt/show/a.blend`) become the
 * paths where the frame runs (`/mnt/projects/shot.blend`). One path is mapped by the SDK's
 * storage rules (`storage.mapPath`); a command line or an environment value is mapped path by
 * path (`mapPathsInText`), so a CommandLine job's arguments and an OpenCue frame's command
 * are mapped like a scene path. Pure.
 */
import { ValidationError } from '@spillway/sdk';
import * as storage from '@spillway/sdk/storage';

/** One rule: a path starting with `from` (a whole-segment prefix) starts with `to` instead. */
export type PathRule = storage.PathMappingRule;

const windowsRooted = (p: string): boolean => /^[A-Za-z]:[\\/]/.test(p) || /^\\\\[^\\]/.test(p);
const posixRooted = (p: string): boolean => p.startsWith('/');

/**
 * Checks rules: `from` an absolute path of either kind (`/mnt/show`, `Z:\projects`,
 * `\\filer\show`), `to` an absolute POSIX path (where cloud frames run), no NUL or line
 * break, no `from` given twice. Errors name the rule (`field[i].from`) and quote the value.
 */
export function validatePathRules(field: string, rules: unknown): PathRule[] {
  if (!Array.isArray(rules))
    throw new ValidationError(
      field,
      rules,
      'must be a list of {"from": "Z:\\\\projects", "to": "/mnt/projects"}',
    );
  const seen = new Set<string>();
  return rules.map((r: unknown, i) => {
    const rule = (r ?? {}) as Partial<Record<'from' | 'to', unknown>>;
    const from = rule.from;
    const to = rule.to;
    if (typeof from !== 'string' || /[\0\n\r]/.test(from) || !(posixRooted(from) || windowsRooted(from)))
      throw new ValidationError(
        `${field}[${i}].from`,
        from,
        'must be an absolute path: /mnt/show, Z:\\projects or \\\\filer\\show',
      );
    if (typeof to !== 'string' || /[\0\n\r]/.test(to) || !posixRooted(to))
      throw new ValidationError(
        `${field}[${i}].to`,
        to,
        'must be an absolute POSIX path, e.g. /mnt/projects',
      );
    const key = storage.mapPath(from, []).toLowerCase();
    if (seen.has(key)) throw new ValidationError(`${field}[${i}].from`, from, 'is repeated');
    seen.add(key);
    return { from, to };
  });
}

/** `FROM=TO` (as `--path-map` takes it) to a rule; not validated. */
export function parsePathRule(text: string): { from: string; to: string | undefined } {
  const at = text.indexOf('=');
  return at < 0 ? { from: text, to: undefined } : { from: text.slice(0, at), to: text.slice(at + 1) };
}

/** Maps one path with the rules, the longest matching `from` winning. */
export function mapPath(p: string, rules: readonly PathRule[]): string {
  return storage.mapPath(p, longestFirst(rules));
}

/**
 * One path as a shell word where the frame runs: mapped with the rules, then quoted; a path
 * a SHARED storage location maps onto its mount (`$SPILLWAY_MOUNT_X/...`, see
 * `storage.sharedPathRules`) keeps the variable outside the quotes so it expands on the node.
 */
export function pathWord(p: string, rules: readonly PathRule[]): string {
  return storage.shellWordForPath(mapPath(p, rules));
}

/**
 * The rules a cloud frame's paths are mapped with: the SHARED locations of the storage
 * profile onto their mounts first (a shared location is reached through its mount, never
 * uploaded), then the studio's own rules.
 */
export function cloudPathRules(
  locations: readonly storage.StorageLocation[],
  rules: readonly PathRule[],
): PathRule[] {
  return [...storage.sharedPathRules(locations), ...rules];
}

function longestFirst(rules: readonly PathRule[]): PathRule[] {
  return [...rules].sort((a, b) => storage.mapPath(b.from, []).length - storage.mapPath(a.from, []).length);
}

/** Characters a path may follow in a command line or an environment value. */
const LEADS = new Set([' ', '\t', '\n', '"', "'", '=', ':', '(', ',', ';']);

/**
 * Rewrites every path in `text` that starts with a rule's `from` as a whole segment, where
 * the path begins the text or follows whitespace, a quote, `=`, `:`, `(`, `,` or `;`. A path
 * runs to the closing quote when it follows one, else to whitespace, a quote, `;`, `)` (and
 * `:` for POSIX paths, as in `PATH` lists). Windows paths come out with `/`. Text without a
 * match is returned unchanged.
 */
export function mapPathsInText(text: string, rules: readonly PathRule[]): string {
  if (rules.length === 0) return text;
  const ordered = longestFirst(rules);
  let out = '';
  let i = 0;
  while (i < text.length) {
    const lead = i === 0 ? '' : text[i - 1]!;
    if (i === 0 || LEADS.has(lead)) {
      const hit = matchAt(text, i, lead, ordered);
      if (hit) {
        const mapped = storage.mapPath(text.slice(i, hit.end), [hit.rule]);
        out += storage.isVariablePath(mapped) ? variableInText(mapped, lead) : mapped;
        i = hit.end;
        continue;
      }
    }
    out += text[i];
    i += 1;
  }
  return out;
}

function matchAt(
  text: string,
  at: number,
  lead: string,
  rules: readonly PathRule[],
): { rule: PathRule; end: number } | undefined {
  for (const rule of rules) {
    const from = rule.from.replace(/[\\/]+$/, '');
    const win = !posixRooted(rule.from);
    const head = text.slice(at, at + from.length);
    const same = win
      ? head.replace(/\\/g, '/').toLowerCase() === from.replace(/\\/g, '/').toLowerCase()
      : head === from;
    if (!same) continue;
    const next = text[at + from.length];
    const stops = win ? /[\s"';)]/ : /[\s"';):]/;
    if (next !== undefined && next !== '/' && next !== '\\' && !stops.test(next)) continue; // not a whole segment
    let end = at + from.length;
    if (lead === '"' || lead === "'") {
      const close = text.indexOf(lead, end);
      end = close < 0 ? text.length : close;
    } else {
      while (end < text.length && !stops.test(text[end]!)) end += 1;
    }
    return { rule, end };
  }
  return undefined;
}

/**
 * A path onto a mount variable (`$SPILLWAY_MOUNT_X/rest`) where it stood in a command line:
 * inside single quotes the quotes are closed around the variable (`'"$X"'/rest`), inside
 * double quotes it expands as it is, and bare it is quoted so its value is one word.
 */
function variableInText(mapped: string, lead: string): string {
  const slash = mapped.indexOf('/');
  const variable = slash < 0 ? mapped : mapped.slice(0, slash);
  const rest = slash < 0 ? '' : mapped.slice(slash);
  if (lead === "'") return `'"${variable}"'${rest}`;
  if (lead === '"') return mapped;
  return `"${variable}"${rest}`;
}
