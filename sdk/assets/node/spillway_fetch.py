#!/usr/bin/env python3
"""Spillway node-side helper: python3 standard library only (a stock Batch Linux image).

  fetch    materialise a manifest: download only the content missing from the node's
           cache (verified by SHA-256), then lay the tree out by path (hard links, or
           copies), every file placed by an atomic rename. Idempotent: safe to rerun
           after a reboot, as Batch job preparation tasks are. The cache is bounded
           (--cache-limit-bytes, or --cache-limit-fraction of its disk): least recently
           used content is evicted to make room, never content of a manifest a running
           task of the node uses; a manifest that cannot fit fails before anything is
           downloaded, naming its size and the free space.
  enter    at a task's start: record that the task (its shell's pid) uses the manifest,
           so its content is not evicted while it runs; materialise the tree again if it
           is not on the node (evicted while no task used it).
  release  when a job ends on the node: forget the job, and remove its laid-out tree
           when no other job or running task uses it (the shared cache stays).
  collect  after a render: hash the outputs matching glob patterns (dot-files included)
           and write outputs.json ({path, sizeBytes, sha256} per file) beside them,
           atomically. Symbolic links are never followed (one leading outside the output
           directory is removed) and special files are not read: each skipped path is
           named, with why, on stderr (the frame's log) and in outputs.json's "skipped".

Node bookkeeping lives in <cache>/.spillway/: a lock (flock), manifests seen, the trees
laid out (complete/<manifest id> holds the tree's path), job references (jobs/<job id>)
and leases (leases/<pid>: a running task, or a fetch in progress).

URLs carrying a SAS are best passed through the environment (SPILLWAY_MANIFEST_URL,
SPILLWAY_CONTENT_URL) so they never appear in a command line; they are never printed.
The last line written to stdout is a JSON summary.
"""
import argparse
import errno
import hashlib
import json
import os
import random
import re
import shutil
import stat
import sys
import tempfile
import time
import urllib.parse

# urllib.request and concurrent.futures are imported where they are used: `collect` runs
# after every frame and should start in a few milliseconds.
CHUNK = 1 << 20
HEX64 = re.compile(r"^[0-9a-f]{64}$")


class FetchError(Exception):
    pass


def redact(url):
    """A URL without its query string (which holds the SAS)."""
    return url.split("?", 1)[0]


def blob_url(container_url, name):
    parts = urllib.parse.urlsplit(container_url)
    path = parts.path.rstrip("/") + "/" + urllib.parse.quote(name)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def open_url(url, timeout, tries):
    """GET with a timeout, retrying 408/429/5xx and network errors with backoff + jitter."""
    import urllib.error
    import urllib.request

    for attempt in range(1, tries + 1):
        try:
            return urllib.request.urlopen(urllib.request.Request(url, headers={"x-ms-version": "2021-08-06"}), timeout=timeout)
        except urllib.error.HTTPError as e:
            retryable = e.code in (408, 429) or e.code >= 500
            e.close()
            if not retryable or attempt == tries:
                raise FetchError("GET %s answered %d" % (redact(url), e.code))
        except (urllib.error.URLError, OSError) as e:
            if attempt == tries:
                raise FetchError("GET %s failed: %s" % (redact(url), type(e).__name__))
        time.sleep(min(8.0, 0.25 * 2 ** attempt) * (0.5 + random.random()))
    raise FetchError("GET %s failed" % redact(url))


def check_rel(path, field):
    if not isinstance(path, str) or not path:
        raise FetchError("%s: must be a non-empty relative path (got %r)" % (field, path))
    if path.startswith("/") or path.startswith("\\") or re.match(r"^[A-Za-z]:", path):
        raise FetchError("%s: absolute paths are refused (got %r)" % (field, path))
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts or any(ord(c) < 32 for c in path):
        raise FetchError("%s: must stay below the root (got %r)" % (field, path))
    return "/".join(parts)


def fsync_dir(d):
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def cache_path(cache, sha):
    return os.path.join(cache, sha[:2], sha)


def hash_file(path):
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while True:
            b = f.read(CHUNK)
            if not b:
                break
            h.update(b)
            size += len(b)
    return h.hexdigest(), size


def download_content(content_url, cache, sha, size, timeout, tries):
    """Downloads content/<sha> into the cache (temp file, verify, fsync, rename). Returns bytes."""
    dest = cache_path(cache, sha)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    url = blob_url(content_url, "content/" + sha)
    for attempt in range(1, tries + 1):
        fd, tmp = tempfile.mkstemp(prefix=".part-", dir=os.path.dirname(dest))
        try:
            h = hashlib.sha256()
            got = 0
            with os.fdopen(fd, "wb") as out:
                with open_url(url, timeout, tries) as res:
                    while True:
                        b = res.read(CHUNK)
                        if not b:
                            break
                        h.update(b)
                        got += len(b)
                        out.write(b)
                out.flush()
                os.fsync(out.fileno())
            if got != size or h.hexdigest() != sha:
                if attempt == tries:
                    raise FetchError("content/%s: got %d bytes with sha256 %s; expected %d bytes" % (sha, got, h.hexdigest(), size))
                continue
            os.chmod(tmp, 0o444)
            os.replace(tmp, dest)
            fsync_dir(os.path.dirname(dest))
            return got
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return 0


def place(src, dest, copy, sha):
    """Puts src at dest atomically (hard link or copy to a temp name, then rename).
    Returns False when dest already is that content (the same inode, or a verified copy)."""
    d = os.path.dirname(dest)
    os.makedirs(d, exist_ok=True)
    try:
        st = os.stat(dest)
        if st.st_ino == os.stat(src).st_ino:
            return False
        if copy and st.st_size == os.stat(src).st_size and hash_file(dest)[0] == sha:
            return False
    except FileNotFoundError:
        pass
    tmp = os.path.join(d, ".spillway-%d-%s" % (os.getpid(), os.path.basename(dest)))
    if os.path.lexists(tmp):
        os.unlink(tmp)
    linked = False
    if not copy:
        try:
            os.link(src, tmp)
            linked = True
        except OSError:
            linked = False
    if not linked:
        shutil.copyfile(src, tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
    os.replace(tmp, dest)
    return True


class NoRoom(FetchError):
    """The manifest cannot fit on the node (cache limit, or free disk space)."""


def human(n):
    for unit, size in (("PiB", 1 << 50), ("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return "%.1f %s" % (n / size, unit)
    return "%d B" % n


def boot_id():
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return ""


def pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OSError, ValueError, OverflowError):
        return False


def write_atomic(path, text):
    d = os.path.dirname(path)
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=d)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def read_text(path):
    try:
        with open(path) as f:
            return f.read()
    except (OSError, UnicodeDecodeError):
        return None


class NodeState:
    """<cache>/.spillway: who uses what on this node. Changed only under the lock."""

    def __init__(self, cache):
        self.cache = cache
        self.dir = os.path.join(cache, ".spillway")
        for sub in ("manifests", "complete", "jobs", "leases"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        self.lock_fd = None

    def __enter__(self):
        import fcntl

        self.lock_fd = os.open(os.path.join(self.dir, "lock"), os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self.lock_fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self.lock_fd)  # closing releases the flock
        self.lock_fd = None

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    # manifests seen on this node (their content lists are what running tasks pin)
    def save_manifest(self, mid, raw):
        p = self.path("manifests", mid + ".json")
        if not os.path.exists(p):
            write_atomic(p, raw.decode("utf-8"))

    def manifest_content(self, mid):
        text = read_text(self.path("manifests", mid + ".json"))
        if text is None:
            return {}
        try:
            return {f["sha256"]: f["sizeBytes"] for f in json.loads(text)["files"]}
        except (ValueError, KeyError, TypeError):
            return {}

    # trees laid out completely: complete/<mid> holds the tree's path
    def tree_of(self, mid):
        return read_text(self.path("complete", mid))

    def mark_complete(self, mid, target):
        write_atomic(self.path("complete", mid), target)

    def remove_tree(self, mid):
        target = self.tree_of(mid)
        try:
            os.unlink(self.path("complete", mid))
        except FileNotFoundError:
            pass
        if target and os.path.basename(target.rstrip("/")) == mid and os.path.isdir(target):
            shutil.rmtree(target, ignore_errors=True)
            return True
        return False

    # leases: leases/<pid> = {"manifest", "kind": "task"|"fetch", "reserve", "boot"}
    def live_leases(self):
        out = []
        boot = boot_id()
        d = self.path("leases")
        for name in os.listdir(d):
            p = os.path.join(d, name)
            try:
                pid = int(name)
                lease = json.loads(read_text(p) or "")
            except ValueError:
                continue
            if lease.get("boot", "") == boot and pid_alive(pid):
                lease["pid"] = pid
                out.append(lease)
            else:
                try:
                    os.unlink(p)  # its process is gone (or the node rebooted)
                except OSError:
                    pass
        return out

    def add_lease(self, pid, mid, kind, reserve=0):
        write_atomic(self.path("leases", str(pid)), json.dumps({"manifest": mid, "kind": kind, "reserve": reserve, "boot": boot_id()}))

    def drop_lease(self, pid):
        try:
            os.unlink(self.path("leases", str(pid)))
        except FileNotFoundError:
            pass

    # jobs: jobs/<job id> = manifest id
    def add_job(self, job, mid):
        write_atomic(self.path("jobs", job), mid)

    def jobs(self):
        out = {}
        d = self.path("jobs")
        for name in os.listdir(d):
            mid = (read_text(os.path.join(d, name)) or "").strip()
            if mid:
                out[name] = mid
        return out


def cache_entries(cache):
    """sha -> (size, mtime) of the content in the cache."""
    out = {}
    try:
        subdirs = os.listdir(cache)
    except FileNotFoundError:
        return out
    for sub in subdirs:
        if len(sub) != 2:
            continue
        try:
            with os.scandir(os.path.join(cache, sub)) as it:
                for e in it:
                    if HEX64.match(e.name):
                        st = e.stat()
                        out[e.name] = (st.st_size, st.st_mtime)
        except (NotADirectoryError, FileNotFoundError):
            continue
    return out


def disk_of(path):
    st = os.statvfs(path)
    return st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize


def cache_limit(args, cache):
    total, _ = disk_of(cache)
    if args.cache_limit_bytes:
        return args.cache_limit_bytes, "%s (--cache-limit-bytes)" % human(args.cache_limit_bytes)
    fraction = args.cache_limit_fraction
    limit = int(total * fraction)
    return limit, "%s (%g%% of the %s disk)" % (human(limit), fraction * 100, human(total))


def make_room(state, cache, mid, wanted, args, own_pid):
    """Under the lock: evict least recently used content no running task uses until the
    manifest's missing content fits the limit and the free space. Raises NoRoom, naming the
    manifest's size and the free space, when it cannot fit. Returns (missing, stats)."""
    entries = cache_entries(cache)
    missing = [(sha, size) for sha, size in wanted.items() if entries.get(sha, (-1,))[0] != size]
    missing_bytes = sum(size for _, size in missing)
    total = sum(wanted.values())
    limit, limit_text = cache_limit(args, cache)
    _, free = disk_of(cache)
    leases = [l for l in state.live_leases() if l["pid"] != own_pid]
    pinned = set(wanted)
    for l in leases:
        pinned.update(state.manifest_content(l.get("manifest", "")))
    reserved = sum(int(l.get("reserve", 0)) for l in leases if l.get("kind") == "fetch")
    used = sum(size for size, _ in entries.values())
    what = "manifest %s needs %s (%d files, %s not in the node cache)" % (mid, human(total), len(wanted), human(missing_bytes))
    where = "the node has %s free on the disk of %s (cache limit %s)" % (human(free), cache, limit_text)
    if total > limit:
        raise NoRoom("%s: more than the node cache may hold; %s. Use a larger VM size (temporary disk) or raise the cache limit" % (what, where))
    need = max(used + reserved + missing_bytes - limit, missing_bytes + reserved - free)
    stats = {"filesEvicted": 0, "bytesEvicted": 0, "treesRemoved": 0}
    if need <= 0:
        return missing, stats
    evictable = sorted((mtime, sha, size) for sha, (size, mtime) in entries.items() if sha not in pinned)
    if sum(size for _, _, size in evictable) < need:
        busy = len([l for l in leases if l.get("kind") == "task"])
        raise NoRoom(
            "%s: it cannot fit: %s, and %s of the cache is used by %d running task(s) of this node; "
            "it cannot be evicted while they run" % (what, where, human(used - sum(s for _, _, s in evictable)), busy)
        )
    # Trees of manifests no running task uses, which hard-link content about to go: removed
    # with it (their next task lays them out again), else the disk space would stay taken.
    live = set(l.get("manifest") for l in leases) | {mid}
    idle_trees = {}
    for name in os.listdir(state.path("complete")):
        if name not in live:
            idle_trees[name] = state.manifest_content(name)
    freed = 0
    for _, sha, size in evictable:
        if freed >= need:
            break
        for tree_mid, content in list(idle_trees.items()):
            if sha in content:
                if state.remove_tree(tree_mid):
                    stats["treesRemoved"] += 1
                del idle_trees[tree_mid]
        try:
            os.unlink(cache_path(cache, sha))
        except FileNotFoundError:
            pass
        freed += size
        stats["filesEvicted"] += 1
        stats["bytesEvicted"] += size
    return missing, stats


def load_manifest(args):
    manifest_url = args.manifest_url or os.environ.get("SPILLWAY_MANIFEST_URL")
    content_url = args.content_url or os.environ.get("SPILLWAY_CONTENT_URL")
    if not manifest_url or not content_url:
        raise FetchError("--manifest-url and --content-url (or SPILLWAY_MANIFEST_URL, SPILLWAY_CONTENT_URL) are required")
    with open_url(manifest_url, args.timeout, args.tries) as res:
        raw = res.read()
    if args.manifest_id and hashlib.sha256(raw).hexdigest() != args.manifest_id:
        raise FetchError("manifest %s does not hash to its id %s" % (redact(manifest_url), args.manifest_id))
    manifest = json.loads(raw.decode("utf-8"))
    if manifest.get("version") != 1 or not isinstance(manifest.get("files"), list):
        raise FetchError("manifest: must be version 1 with a files array")
    files = []
    for i, f in enumerate(manifest["files"]):
        p = check_rel(f.get("path"), "manifest.files[%d].path" % i)
        sha = f.get("sha256")
        size = f.get("sizeBytes")
        if not isinstance(sha, str) or not HEX64.match(sha):
            raise FetchError("manifest.files[%d].sha256: must be 64 hex digits (got %r)" % (i, sha))
        if not isinstance(size, int) or size < 0:
            raise FetchError("manifest.files[%d].sizeBytes: must be a non-negative integer (got %r)" % (i, size))
        files.append((p, sha, size))
    mid = args.manifest_id or hashlib.sha256(raw).hexdigest()
    return mid, raw, files, content_url


def touch(cache, shas):
    """Marks content as just used (least recently used content is evicted first)."""
    for sha in shas:
        try:
            os.utime(cache_path(cache, sha))
        except OSError:
            pass


def materialise(args, cache, target, lease_pid, lease_kind):
    """Downloads what the cache lacks (after making room) and lays the tree out."""
    import concurrent.futures

    mid, raw, files, content_url = load_manifest(args)
    wanted = {}
    for p, sha, size in files:
        wanted[sha] = size
    state = NodeState(cache)
    with state:
        state.save_manifest(mid, raw)
        if args.job:
            state.add_job(args.job, mid)
        missing, stats = make_room(state, cache, mid, wanted, args, lease_pid)
        missing_bytes = sum(size for _, size in missing)
        # Pins this manifest's content (and reserves room for what is downloaded) until done.
        state.add_lease(lease_pid, mid, lease_kind, missing_bytes)
        touch(cache, wanted)
    cached_bytes = sum(wanted.values()) - missing_bytes
    try:
        downloaded = 0
        for sha, size in missing:
            cp = cache_path(cache, sha)
            if os.path.exists(cp):
                os.unlink(cp)  # wrong size: a damaged entry, fetch again
        with concurrent.futures.ThreadPoolExecutor(max_workers=args.concurrency) as pool:
            futures = [pool.submit(download_content, content_url, cache, sha, size, args.timeout, args.tries) for sha, size in missing]
            for fut in concurrent.futures.as_completed(futures):
                downloaded += fut.result()

        placed = 0
        os.makedirs(target, exist_ok=True)
        real_target = os.path.realpath(target)
        for p, sha, size in files:
            dest = os.path.join(target, *p.split("/"))
            if not os.path.realpath(os.path.dirname(dest)).startswith(real_target) and os.path.exists(os.path.dirname(dest)):
                raise FetchError("%s: a directory on the way is a link leaving the target" % p)
            if place(cache_path(cache, sha), dest, args.copy, sha):
                placed += 1
        fsync_dir(target)
        with state:
            state.mark_complete(mid, target)
            if lease_kind == "fetch":
                state.drop_lease(lease_pid)
    except BaseException:
        if lease_kind == "fetch":
            with state:
                state.drop_lease(lease_pid)
        raise
    limit, _ = cache_limit(args, cache)
    summary = {
        "filesDownloaded": len(missing),
        "bytesDownloaded": downloaded,
        "filesCached": len(wanted) - len(missing),
        "bytesCached": cached_bytes,
        "filesPlaced": placed,
        "files": len(files),
        "cacheLimitBytes": limit,
    }
    summary.update(stats)
    return summary


def node_paths(args):
    cache = os.path.abspath(args.cache)
    target = os.path.abspath(args.target)
    os.makedirs(cache, exist_ok=True)
    os.makedirs(target, exist_ok=True)
    return cache, target


def cmd_fetch(args):
    cache, target = node_paths(args)
    try:
        summary = materialise(args, cache, target, os.getpid(), "fetch")
    except NoRoom as e:
        if not args.defer_space_errors:
            raise
        # Job preparation: a node that cannot hold the manifest now does not block the job
        # on it; each task that finds its tree missing tries again, and fails with this.
        sys.stderr.write("spillway_fetch: %s\n" % e)
        summary = {"deferred": str(e)}
    print(json.dumps(summary))


def cmd_enter(args):
    cache = os.path.abspath(args.cache)
    target = os.path.abspath(args.target)
    os.makedirs(cache, exist_ok=True)
    pid = args.lease_pid
    state = NodeState(cache)
    with state:
        tree = state.tree_of(args.manifest_id) if args.manifest_id else None
        if tree and os.path.abspath(tree) == target and os.path.isdir(target):
            # Laid out already: only record the use (under the lock, so no eviction races it).
            state.add_lease(pid, args.manifest_id, "task")
            touch(cache, state.manifest_content(args.manifest_id))
            print(json.dumps({"entered": args.manifest_id, "filesDownloaded": 0}))
            return
    summary = materialise(args, cache, target, pid, "task")
    summary["entered"] = args.manifest_id
    print(json.dumps(summary))


def cmd_release(args):
    cache = os.path.abspath(args.cache)
    if not os.path.isdir(os.path.join(cache, ".spillway")):
        print(json.dumps({"released": args.job, "treesRemoved": 0}))
        return
    state = NodeState(cache)
    removed = 0
    with state:
        jobs = state.jobs()
        mid = jobs.pop(args.job, None)
        try:
            os.unlink(state.path("jobs", args.job))
        except FileNotFoundError:
            pass
        if mid and mid not in jobs.values() and mid not in [l.get("manifest") for l in state.live_leases()]:
            if state.remove_tree(mid):
                removed += 1
            try:
                os.unlink(state.path("manifests", mid + ".json"))
            except FileNotFoundError:
                pass
    print(json.dumps({"released": args.job, "manifest": mid, "treesRemoved": removed}))


def publish(root, dest_root, entries):
    """Outputs to a share: each file is copied under a temporary name beside its destination,
    flushed, then renamed over it, so the share never holds a half-written output."""
    if not os.path.isdir(dest_root):
        raise FetchError("--publish-to: the share directory is missing or not mounted (got %r)" % dest_root)
    for e in entries:
        check_rel(e["path"], "output")
        dest = os.path.join(dest_root, *e["path"].split("/"))
        d = os.path.dirname(dest)
        os.makedirs(d, exist_ok=True)
        tmp = os.path.join(d, ".%s.spillway-%d.tmp" % (os.path.basename(dest), os.getpid()))
        try:
            with open(os.path.join(root, *e["path"].split("/")), "rb") as src, open(tmp, "wb") as out:
                shutil.copyfileobj(src, out, 1024 * 1024)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, dest)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        fsync_dir(d)


def glob_re(pattern):
    """A glob over "/"-separated paths as a regular expression: `*` and `?` stay within a
    segment, `**` crosses them. Dot-files match like any file (as the uploader sends them)."""
    out, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*" and pattern[i + 1:i + 2] == "*":
            i += 1
            if pattern[i + 1:i + 2] == "/":
                i += 1
                out += "(?:.*/)?"
            else:
                out += ".*"
        elif c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        else:
            out += re.escape(c)
        i += 1
    return re.compile("^%s$" % out, re.DOTALL)


def is_bookkeeping(rel, out_name):
    """Spillway's own files in an output directory: outputs.json and temporary names."""
    return rel == out_name or os.path.basename(rel).startswith(".spillway-")


def scan_outputs(root, patterns, out_name):
    """The regular files below root matching a pattern (dot-files included), and every path
    skipped with why: a symbolic link is never followed (one to outside root is removed, so
    no uploader follows it either), nor is a socket, FIFO or device read."""
    found, skipped = [], []
    for dirpath, dirnames, filenames in os.walk(root):  # does not descend into linked dirs
        base = os.path.relpath(dirpath, root).replace(os.sep, "/")
        for name in sorted(dirnames + filenames):
            full = os.path.join(dirpath, name)
            rel = name if base == "." else base + "/" + name
            if os.path.islink(full):
                target = os.path.realpath(full)
                if target == root or target.startswith(root + os.sep):
                    skipped.append({"path": rel, "reason": "symlink inside the output directory: not followed (its target is collected as itself)"})
                else:
                    os.unlink(full)
                    skipped.append({"path": rel, "reason": "symlink to outside the output directory: never followed, removed"})
                continue
            if name in dirnames:
                continue
            if not stat.S_ISREG(os.lstat(full).st_mode):
                skipped.append({"path": rel, "reason": "not a regular file"})
                continue
            if not is_bookkeeping(rel, out_name) and any(p.match(rel) for p in patterns):
                found.append(rel)
    return sorted(found), skipped


def cmd_collect(args):
    root = os.path.abspath(args.dir)
    if not os.path.isdir(root):
        raise FetchError("--dir: not a directory (got %r)" % args.dir)
    out_name = args.output
    patterns = [glob_re(check_rel(p, "--pattern")) for p in args.pattern]
    found, skipped = scan_outputs(os.path.realpath(root), patterns, out_name)
    for s in skipped:
        sys.stderr.write("spillway_fetch: collect: skipped %s: %s\n" % (s["path"], s["reason"]))
    sys.stderr.flush()
    entries = []
    for rel in found:
        sha, size = hash_file(os.path.join(root, rel))
        entries.append({"path": rel, "sizeBytes": size, "sha256": sha})
    if args.publish_to:
        publish(root, args.publish_to, entries)
    dest = os.path.join(root, out_name)
    fd, tmp = tempfile.mkstemp(prefix=".spillway-outputs-", dir=root)
    with os.fdopen(fd, "w") as f:
        json.dump({"version": 1, "files": entries, "skipped": skipped}, f, separators=(",", ":"))
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, 0o644)
    os.replace(tmp, dest)
    fsync_dir(root)
    print(json.dumps({"files": len(entries), "bytes": sum(e["sizeBytes"] for e in entries), "outputs": out_name}))


def main(argv):
    ap = argparse.ArgumentParser(prog="spillway_fetch.py")
    sub = ap.add_subparsers(dest="command", required=True)
    def fetch_args(f):
        f.add_argument("--manifest-url", help="manifest blob URL with a read SAS (or env SPILLWAY_MANIFEST_URL)")
        f.add_argument("--content-url", help="container URL with a read SAS (or env SPILLWAY_CONTENT_URL)")
        f.add_argument("--manifest-id", help="expected SHA-256 of the manifest bytes")
        f.add_argument("--cache", required=True, help="node cache directory, e.g. $AZ_BATCH_NODE_SHARED_DIR/spillway-cache")
        f.add_argument("--target", required=True, help="where the tree is laid out")
        f.add_argument("--copy", action="store_true", help="copy instead of hard-linking from the cache")
        f.add_argument("--concurrency", type=int, default=8)
        f.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
        f.add_argument("--tries", type=int, default=4)
        f.add_argument("--job", help="the job using the tree (its release removes it)")
        f.add_argument("--cache-limit-bytes", type=int, default=0, help="most bytes of content the node cache holds")
        f.add_argument("--cache-limit-fraction", type=float, default=0.5, help="without a byte limit: this share of the cache's disk")

    f = sub.add_parser("fetch", help="materialise a manifest from the content container")
    fetch_args(f)
    f.add_argument("--defer-space-errors", action="store_true", help="when the manifest cannot fit, say so and exit 0 (job preparation)")
    e = sub.add_parser("enter", help="at a task's start: pin the manifest for the task, materialise it if missing")
    fetch_args(e)
    e.add_argument("--lease-pid", type=int, required=True, help="the task's shell pid: its content stays while it lives")
    r = sub.add_parser("release", help="when a job ends on the node: remove its tree unless still used")
    r.add_argument("--cache", required=True)
    r.add_argument("--job", required=True)
    c = sub.add_parser("collect", help="hash outputs and write outputs.json")
    c.add_argument("--dir", required=True)
    c.add_argument("--pattern", action="append", required=True, help="glob relative to --dir (repeatable)")
    c.add_argument("--output", default="outputs.json")
    c.add_argument("--publish-to", help="also write each output below this directory (a share): temporary name, then rename")
    args = ap.parse_args(argv)
    try:
        if args.command == "fetch":
            cmd_fetch(args)
        elif args.command == "enter":
            cmd_enter(args)
        elif args.command == "release":
            cmd_release(args)
        else:
            cmd_collect(args)
    except FetchError as e:
        sys.stderr.write("spillway_fetch: %s\n" % e)
        return 1
    except Exception as e:  # never let a traceback print a SAS
        sys.stderr.write("spillway_fetch: %s: %s\n" % (type(e).__name__, re.sub(r"([?&]sig=)[^&\s'\"]+", r"\1REDACTED", str(e))))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
