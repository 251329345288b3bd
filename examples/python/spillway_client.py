#!/usr/bin/python3
"""A Python client of Spillway's burst-capacity service (spillway.v1 over gRPC).

Submits a frame range as a job, watches its frames to the end, and prints progress.
Stubs are generated from proto/ with Debian's protoc and grpc_python_plugin at first run
(into ./gen, which is not committed). Run with /usr/bin/python3, which sees Debian's
python3-grpcio and python3-protobuf.

    /usr/bin/python3 examples/python/spillway_client.py --address 127.0.0.1:7443 \
        --frames 1-24 --command 'echo rendering #IFRAME# > out/frame_#ZFRAME#.txt'

A service off loopback speaks TLS and wants a bearer token (`spillway serve --tls-cert
--tls-key --token-file`): trust its CA and send the token.

    /usr/bin/python3 examples/python/spillway_client.py --address render-gw:7443 \
        --tls-ca ca.pem --token-file token --frames 1-24
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_ROOT = os.path.normpath(os.path.join(HERE, "..", "..", "proto"))
GEN = os.path.join(HERE, "gen")


def generate_stubs():
    """Generates the Python stubs from proto/ when they are missing or older than the protos.

    They are generated into a new directory that is then renamed into place, so two runs
    at once never see half-written stubs.
    """
    protos = sorted(
        os.path.join("spillway", "v1", f)
        for f in os.listdir(os.path.join(PROTO_ROOT, "spillway", "v1"))
        if f.endswith(".proto")
    )
    newest = max(os.path.getmtime(os.path.join(PROTO_ROOT, p)) for p in protos)
    marker = os.path.join(GEN, ".generated")
    if os.path.exists(marker) and os.path.getmtime(marker) >= newest:
        return
    plugin = "/usr/bin/grpc_python_plugin"
    if not os.path.exists(plugin):
        sys.exit("grpc_python_plugin not found: apt-get install protobuf-compiler protobuf-compiler-grpc")
    tmp = tempfile.mkdtemp(prefix=".gen-", dir=HERE)
    try:
        subprocess.run(
            ["protoc", "-I", PROTO_ROOT, "-I", "/usr/include", "--python_out", tmp, "--grpc_python_out", tmp,
             "--plugin=protoc-gen-grpc_python=" + plugin, *protos],
            check=True,
        )
        open(os.path.join(tmp, ".generated"), "w").close()
        if os.path.exists(GEN):
            shutil.rmtree(GEN, ignore_errors=True)  # stale
        os.rename(tmp, GEN)
    except OSError:
        if not os.path.exists(marker):
            raise
        # another run put its stubs in place first
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def parse_frames(spec):
    """'1-24', '1-24:2' or '7' -> list of frame numbers."""
    m = re.match(r"^(-?\d+)(?:-(-?\d+))?(?::(\d+))?$", spec)
    start = int(m.group(1)) if m else 0
    end = int(m.group(2)) if m and m.group(2) else start
    step = int(m.group(3)) if m and m.group(3) else 1
    if not m or end < start or step < 1:
        sys.exit("--frames: %r is not a range START-END[:STEP] with START <= END" % spec)
    return list(range(start, end + 1, step))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--address", default="127.0.0.1:7443", help="service host:port (default %(default)s)")
    parser.add_argument("--token-file", help="file holding the service's bearer token")
    parser.add_argument("--token", default=os.environ.get("SPILLWAY_TOKEN"),
                        help="the service's bearer token (default $SPILLWAY_TOKEN; --token-file keeps it out of "
                             "process listings)")
    parser.add_argument("--tls-ca", help="CA certificate (PEM) to trust: the service speaks TLS")
    parser.add_argument("--tls-server-name",
                        help="the name to check the service's certificate against (default: the address's host)")
    parser.add_argument("--frames", default="1-10", help="frame range START-END[:STEP] (default %(default)s)")
    parser.add_argument("--command", default="mkdir -p out && echo frame #IFRAME# > out/frame_#ZFRAME#.txt",
                        help="command template with frame tokens (#IFRAME#, #ZFRAME#, ...)")
    parser.add_argument("--source", default="python:example", help="who owns the job (default %(default)s)")
    parser.add_argument("--job-id", default="python-job-%d" % int(time.time()), help="the job's id at the source")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for the job (default %(default)s)")
    args = parser.parse_args()

    generate_stubs()
    sys.path.insert(0, GEN)
    import grpc  # noqa: E402
    from spillway.v1 import common_pb2, frames_pb2, frames_pb2_grpc  # noqa: E402

    token = args.token
    if args.token_file:
        try:
            with open(args.token_file) as f:
                token = f.read().strip()
        except OSError as err:
            sys.exit("--token-file %r: cannot be read: %s" % (args.token_file, err.strerror))
    metadata = [("authorization", "Bearer " + token)] if token else []

    frames = parse_frames(args.frames)
    if args.tls_ca:
        try:
            with open(args.tls_ca, "rb") as f:
                credentials = grpc.ssl_channel_credentials(root_certificates=f.read())
        except OSError as err:
            sys.exit("--tls-ca %r: cannot be read: %s" % (args.tls_ca, err.strerror))
        options = [("grpc.ssl_target_name_override", args.tls_server_name)] if args.tls_server_name else []
        channel = grpc.secure_channel(args.address, credentials, options=options)
    else:
        channel = grpc.insecure_channel(args.address)
    stub = frames_pb2_grpc.FrameServiceStub(channel)
    job = frames_pb2.JobSpec(
        source=args.source,
        source_kind=common_pb2.SOURCE_KIND_CLIENT,
        source_job_id=args.job_id,
        name="python example",
        command_template=args.command,
        output=frames_pb2.OutputSpec(patterns=["out/**"]),
    )
    request = frames_pb2.SubmitFramesRequest(
        job=job,
        frames=[frames_pb2.FrameSpec(source_task_id=str(n), frame_start=n, frame_end=n) for n in frames],
    )
    try:
        response = stub.SubmitFrames(request, metadata=metadata, timeout=30)
    except grpc.RpcError as err:
        sys.exit("submit failed: %s: %s" % (err.code().name, err.details()))
    print("submitted job %s: %d frames" % (response.job_id, len(response.frames)), flush=True)

    wanted = {f.frame_id for f in response.frames}
    final = {}
    terminal = {
        frames_pb2.FRAME_STATE_SUCCEEDED: "succeeded",
        frames_pb2.FRAME_STATE_FAILED: "failed",
        frames_pb2.FRAME_STATE_RECALLED: "recalled",
        frames_pb2.FRAME_STATE_CANCELLED: "cancelled",
    }
    running = set()
    cursor = ""
    deadline = time.time() + args.timeout
    while len(final) < len(wanted):
        if time.time() > deadline:
            sys.exit("timed out after %.0f s with %d of %d frames finished" % (args.timeout, len(final), len(wanted)))
        try:
            stream = stub.WatchFrames(
                frames_pb2.WatchFramesRequest(after_cursor=cursor, job_id=response.job_id),
                metadata=metadata, timeout=max(1.0, deadline - time.time()),
            )
            for message in stream:
                for event in message.events:
                    cursor = event.cursor
                    if event.frame_id not in wanted:
                        continue
                    if event.state == frames_pb2.FRAME_STATE_RUNNING:
                        running.add(event.frame_id)
                    elif event.state in terminal:
                        running.discard(event.frame_id)
                        final[event.frame_id] = terminal[event.state]
                    else:
                        running.discard(event.frame_id)
                    done = sum(1 for s in final.values() if s == "succeeded")
                    print("progress: %d/%d succeeded, %d running, %d failed"
                          % (done, len(wanted), len(running), sum(1 for s in final.values() if s == "failed")),
                          flush=True)
                if len(final) == len(wanted):
                    stream.cancel()
                    break
        except grpc.RpcError as err:
            if err.code() == grpc.StatusCode.CANCELLED and len(final) == len(wanted):
                break
            if err.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                sys.exit("watch failed: %s: %s" % (err.code().name, err.details()))
            time.sleep(0.5)  # the service restarted: resume from the cursor
    succeeded = sum(1 for s in final.values() if s == "succeeded")
    print("done: %d/%d frames succeeded" % (succeeded, len(wanted)), flush=True)
    return 0 if succeeded == len(wanted) else 1


if __name__ == "__main__":
    sys.exit(main())
