#!/usr/bin/env python3
"""Spillway node-side helper: python3 standard library only (a stock Batch Linux image).

  fetch    materialise a manifest: download only the content missing from the node's
           cache (verified by SHA-256), then lay the tree out by path (hard links, or
           copies), every file placed by an atomic rename. Idempotent: safe to rerun
           after a reboot, as Batch job preparation tasks are.
  collect  after a render: hash the outputs matching glob patterns and write
           outputs.json ({path, sizeBytes, sha256} per file) beside them, atomically.

URLs carrying a SAS are best passed through the environment (SPILLWAY_MANIFEST_URL,
SPILLWAY_CONTENT_URL) so they never appear in a command line; they are never printed.
The last line written to stdout is a JSON summary.
"""
import argparse
import glob
import hashlib
import json
import os
import random
import re
import shutil
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


def cmd_fetch(args):
    import concurrent.futures

    manifest_url = args.manifest_url or os.environ.get("SPILLWAY_MANIFEST_URL")
    content_url = args.content_url or os.environ.get("SPILLWAY_CONTENT_URL")
    if not manifest_url or not content_url:
        raise FetchError("--manifest-url and --content-url (or SPILLWAY_MANIFEST_URL, SPILLWAY_CONTENT_URL) are required")
    cache = os.path.abspath(args.cache)
    target = os.path.abspath(args.target)
    os.makedirs(cache, exist_ok=True)
    os.makedirs(target, exist_ok=True)
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

    wanted = {}
    for p, sha, size in files:
        wanted[sha] = size
    missing = []
    cached_bytes = 0
    for sha, size in wanted.items():
        cp = cache_path(cache, sha)
        try:
            if os.path.getsize(cp) == size:
                cached_bytes += size
                continue
            os.unlink(cp)  # wrong size: a damaged entry, fetch again
        except FileNotFoundError:
            pass
        missing.append((sha, size))

    downloaded = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        futures = [pool.submit(download_content, content_url, cache, sha, size, args.timeout, args.tries) for sha, size in missing]
        for fut in concurrent.futures.as_completed(futures):
            downloaded += fut.result()

    placed = 0
    for p, sha, size in files:
        dest = os.path.join(target, *p.split("/"))
        real_target = os.path.realpath(target)
        if not os.path.realpath(os.path.dirname(dest)).startswith(real_target) and os.path.exists(os.path.dirname(dest)):
            raise FetchError("%s: a directory on the way is a link leaving the target" % p)
        if place(cache_path(cache, sha), dest, args.copy, sha):
            placed += 1
    fsync_dir(target)
    summary = {
        "filesDownloaded": len(missing),
        "bytesDownloaded": downloaded,
        "filesCached": len(wanted) - len(missing),
        "bytesCached": cached_bytes,
        "filesPlaced": placed,
        "files": len(files),
    }
    print(json.dumps(summary))


def cmd_collect(args):
    root = os.path.abspath(args.dir)
    if not os.path.isdir(root):
        raise FetchError("--dir: not a directory (got %r)" % args.dir)
    out_name = args.output
    found = set()
    for pattern in args.pattern:
        check_rel(pattern, "--pattern")
        for m in glob.glob(os.path.join(root, pattern), recursive=True):
            if os.path.isfile(m) and not os.path.islink(m):
                rel = os.path.relpath(m, root).replace(os.sep, "/")
                if rel != out_name and not os.path.basename(rel).startswith(".spillway-"):
                    found.add(rel)
    entries = []
    for rel in sorted(found):
        sha, size = hash_file(os.path.join(root, rel))
        entries.append({"path": rel, "sizeBytes": size, "sha256": sha})
    dest = os.path.join(root, out_name)
    fd, tmp = tempfile.mkstemp(prefix=".spillway-outputs-", dir=root)
    with os.fdopen(fd, "w") as f:
        json.dump({"version": 1, "files": entries}, f, separators=(",", ":"))
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, 0o644)
    os.replace(tmp, dest)
    fsync_dir(root)
    print(json.dumps({"files": len(entries), "bytes": sum(e["sizeBytes"] for e in entries), "outputs": out_name}))


def main(argv):
    ap = argparse.ArgumentParser(prog="spillway_fetch.py")
    sub = ap.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fetch", help="materialise a manifest from the content container")
    f.add_argument("--manifest-url", help="manifest blob URL with a read SAS (or env SPILLWAY_MANIFEST_URL)")
    f.add_argument("--content-url", help="container URL with a read SAS (or env SPILLWAY_CONTENT_URL)")
    f.add_argument("--manifest-id", help="expected SHA-256 of the manifest bytes")
    f.add_argument("--cache", required=True, help="node cache directory, e.g. $AZ_BATCH_NODE_SHARED_DIR/spillway-cache")
    f.add_argument("--target", required=True, help="where the tree is laid out")
    f.add_argument("--copy", action="store_true", help="copy instead of hard-linking from the cache")
    f.add_argument("--concurrency", type=int, default=8)
    f.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    f.add_argument("--tries", type=int, default=4)
    c = sub.add_parser("collect", help="hash outputs and write outputs.json")
    c.add_argument("--dir", required=True)
    c.add_argument("--pattern", action="append", required=True, help="glob relative to --dir (repeatable)")
    c.add_argument("--output", default="outputs.json")
    args = ap.parse_args(argv)
    try:
        if args.command == "fetch":
            cmd_fetch(args)
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
