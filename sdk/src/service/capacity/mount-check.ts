/**
 * The mounts' part of the group preflight: on a node of the group, each mount must be present
 * below `$AZ_BATCH_NODE_MOUNTS_DIR` and readable, and writable where frames write outputs.
 * The check is a python3 (standard library) script, so it runs on a stock Batch image.
 */
import { mountLogType, relativeMountPathOf, type MountSpec } from '../../storage/mounts';
import { shellQuote } from '../../template/shell';
import { readCheckLines, type PreflightCheck, type PreflightFailureView } from './preflight';

const MARK = 'spillway-mount-check';

const SCRIPT = `
import json, os, sys, tempfile
base = os.environ.get("AZ_BATCH_NODE_MOUNTS_DIR", "")
args = sys.argv[1:]
for i in range(0, len(args), 2):
    rel, writable = args[i], args[i + 1] == "1"
    err = None
    p = os.path.join(base, rel)
    try:
        if not base:
            err = "AZ_BATCH_NODE_MOUNTS_DIR is not set on the node"
        elif not os.path.isdir(p):
            err = "not mounted: %s is missing" % p
        else:
            os.listdir(p)
            if writable:
                fd, t = tempfile.mkstemp(prefix=".spillway-preflight-", dir=p)
                os.close(fd)
                os.unlink(t)
    except OSError as e:
        err = "%s at %s: %s" % ("not writable" if writable and os.path.isdir(p) else "not readable", p, e.strerror or e)
    print("${MARK} " + json.dumps({"index": i // 2, "ok": err is None, "error": err}))
`;

/** How a mount is named in messages: `mount "projects" (nfs nas:/export/projects)`. */
export function mountLabel(m: MountSpec): string {
  return `mount ${JSON.stringify(m.name)} (${m.kind} ${m.source} at $AZ_BATCH_NODE_MOUNTS_DIR/${relativeMountPathOf(m)})`;
}

/** The command a node runs to check the mounts. */
export function mountCheckCommand(mounts: readonly MountSpec[]): string {
  return [
    '"${SPILLWAY_PYTHON:-python3}" -S -c',
    shellQuote(SCRIPT),
    ...mounts.flatMap((m) => [shellQuote(relativeMountPathOf(m)), m.writable ? '1' : '0']),
  ].join(' ');
}

/** The failures in a node's answer (each naming its mount, with the mount's log to read); undefined when it has no answer for every mount. */
export function mountFailures(
  mounts: readonly MountSpec[],
  stdout: string,
): PreflightFailureView[] | undefined {
  const found = readCheckLines<{ index: number; ok: boolean; error: string | null }>(
    stdout,
    MARK,
    mounts.length,
  );
  if (!found) return undefined;
  return mounts.flatMap((mount, i) => {
    const r = found.get(i)!;
    if (r.ok) return [];
    const subject = mountLabel(mount);
    const log = `$AZ_BATCH_NODE_MOUNTS_DIR/${mountLogType(mount.kind)}-${relativeMountPathOf(mount).replace(/\//g, '_')}.log`;
    return [{ subject, message: `${subject}: ${r.error ?? 'unavailable'} (see ${log})` }];
  });
}

/** The mounts' preflight check of a group; undefined when it mounts nothing. */
export function mountPreflightCheck(mounts: readonly MountSpec[]): PreflightCheck | undefined {
  if (mounts.length === 0) return undefined;
  return {
    kind: 'mounts',
    errorCode: 'MountUnavailable',
    key: JSON.stringify(mounts.map((m) => [m.name, relativeMountPathOf(m), m.writable ?? false])),
    command: mountCheckCommand(mounts),
    timeoutMs: 30_000,
    subjects: mounts.map(mountLabel),
    parse: (stdout) => mountFailures(mounts, stdout),
  };
}
