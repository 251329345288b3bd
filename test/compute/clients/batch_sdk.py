"""Drives `spillway emulate batch` with Microsoft's Python Batch SDK (azure.batch, Debian
python3-azure) as a pipeline TD would. Prints one JSON object per step on stdout:
{"step": ..., ...observations}. The jest test (python-sdk.test.ts) asserts on them.

Environment: BATCH_URL, BATCH_ACCOUNT, BATCH_KEY, JOB_QUOTA (the emulator's active-job quota).
"""
import json
import os
import sys
import time

import azure.batch.models as m
from azure.batch import BatchServiceClient
from azure.batch.batch_auth import SharedKeyCredentials

url, account, key = os.environ["BATCH_URL"], os.environ["BATCH_ACCOUNT"], os.environ["BATCH_KEY"]
job_quota = int(os.environ["JOB_QUOTA"])
client = BatchServiceClient(SharedKeyCredentials(account, key), batch_url=url)
client.config.retry_policy.retries = 0  # an emulator fault must show, not be retried away


def emit(step, **seen):
    print(json.dumps({"step": step, **seen}), flush=True)


def error_of(call):
    try:
        call()
    except m.BatchErrorException as e:
        return {"status": e.response.status_code, "code": e.error.code}
    return {"status": 0, "code": None}


def wait(what, predicate, timeout=60):
    end = time.time() + timeout
    while not predicate():
        if time.time() > end:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.2)


vmc = m.VirtualMachineConfiguration(
    image_reference=m.ImageReference(
        publisher="canonical", offer="0001-com-ubuntu-server-jammy", sku="22_04-lts", version="latest"
    ),
    node_agent_sku_id="batch.node.ubuntu 22.04",
)

# Pools: create, exists, show, list; a second resize while the first runs is refused.
client.pool.add(m.PoolAddParameter(id="py-pool", vm_size="Standard_D2s_v3", virtual_machine_configuration=vmc))
emit(
    "pool",
    exists=client.pool.exists("py-pool"),
    vmSize=client.pool.get("py-pool").vm_size,
    listed=[p.id for p in client.pool.list()],
)
client.pool.resize("py-pool", m.PoolResizeParameter(target_dedicated_nodes=1))
second = error_of(lambda: client.pool.resize("py-pool", m.PoolResizeParameter(target_dedicated_nodes=2)))
wait("the pool to settle", lambda: client.pool.get("py-pool").allocation_state == m.AllocationState.steady)
wait(
    "the node to be idle",
    lambda: [n.state for n in client.compute_node.list("py-pool")] == [m.ComputeNodeState.idle],
)
emit("resize", secondResize=second, dedicated=client.pool.get("py-pool").current_dedicated_nodes)

# Jobs and tasks: preparation and release, one task that succeeds and one that fails.
client.job.add(
    m.JobAddParameter(
        id="py-job",
        pool_info=m.PoolInformation(pool_id="py-pool"),
        job_preparation_task=m.JobPreparationTask(command_line="/bin/sh -c 'echo prepared'"),
        job_release_task=m.JobReleaseTask(command_line="/bin/sh -c 'echo released'"),
    )
)
client.task.add("py-job", m.TaskAddParameter(id="ok", command_line="/bin/sh -c 'echo hello; echo data > out.txt'"))
client.task.add("py-job", m.TaskAddParameter(id="bad", command_line="/bin/sh -c 'exit 3'"))


def completed(*ids):
    return lambda: all(client.task.get("py-job", t).state == m.TaskState.completed for t in ids)


wait("both tasks", completed("ok", "bad"))
files = sorted(f.name for f in client.file.list_from_task("py-job", "ok", recursive=True))
stdout = b"".join(client.file.get_from_task("py-job", "ok", "stdout.txt")).decode()
props = client.file.get_properties_from_task("py-job", "ok", "wd/out.txt", raw=True).headers
status = list(client.job.list_preparation_and_release_task_status("py-job"))
emit(
    "tasks",
    listed=sorted(t.id for t in client.task.list("py-job")),
    exitCodes={t: client.task.get("py-job", t).execution_info.exit_code for t in ("ok", "bad")},
    files=files,
    stdout=stdout,
    outLength=int(props["Content-Length"]),
    prep=[(s.job_preparation_task_execution_info.state.value, s.job_preparation_task_execution_info.exit_code) for s in status],
)

# Reactivate: the failed task runs again; a succeeded one is refused.
client.task.reactivate("py-job", "bad")
state_after = client.task.get("py-job", "bad").state.value
wait("the reactivated task", completed("bad"))
emit(
    "reactivate",
    stateAfter=state_after,
    rerunExitCode=client.task.get("py-job", "bad").execution_info.exit_code,
    succeeded=error_of(lambda: client.task.reactivate("py-job", "ok")),
)

# Autoscale: enabled (evaluated at once), evaluated, refused resize while on, disabled.
client.pool.enable_auto_scale(
    "py-pool",
    auto_scale_formula="$TargetDedicatedNodes = min(2, $PendingTasks + 1);",
    auto_scale_evaluation_interval="PT5M",
)
pool = client.pool.get("py-pool")
run = client.pool.evaluate_auto_scale("py-pool", "$TargetDedicatedNodes = 3;")
resize = error_of(lambda: client.pool.resize("py-pool", m.PoolResizeParameter(target_dedicated_nodes=1)))
bad_formula = error_of(lambda: client.pool.enable_auto_scale("py-pool", auto_scale_formula="$TargetDedicatedNodes = ;"))
client.pool.disable_auto_scale("py-pool")
emit(
    "autoscale",
    enabled=pool.enable_auto_scale,
    target=pool.target_dedicated_nodes,
    results=pool.auto_scale_run.results,
    evaluated=run.results,
    resizeWhileOn=resize,
    badFormula=bad_formula,
    enabledAfterDisable=client.pool.get("py-pool").enable_auto_scale,
)

# The job ends by itself once its tasks are done; completed jobs leave the quota.
client.job.patch("py-job", m.JobPatchParameter(on_all_tasks_complete=m.OnAllTasksComplete.terminate_job))
wait("the job to complete", lambda: client.job.get("py-job").state == m.JobState.completed)
jobs = []
for i in range(job_quota):
    jobs.append(f"q{i}")
    client.job.add(m.JobAddParameter(id=f"q{i}", pool_info=m.PoolInformation(pool_id="py-pool")))
over = error_of(lambda: client.job.add(m.JobAddParameter(id="over", pool_info=m.PoolInformation(pool_id="py-pool"))))
emit("quota", jobState=client.job.get("py-job").state.value, added=len(jobs), overQuota=over)

# Delete everything, as a user cleaning up would.
client.task.delete("py-job", "ok")
gone = error_of(lambda: client.task.get("py-job", "ok"))
for j in ["py-job", *jobs]:
    client.job.delete(j)
client.pool.delete("py-pool")
wait("the pool to go", lambda: not client.pool.exists("py-pool"))
emit("delete", taskGone=gone, jobs=[j.id for j in client.job.list() if j.state != m.JobState.deleting])
sys.exit(0)
