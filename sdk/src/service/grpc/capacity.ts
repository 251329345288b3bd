import type { ServerWritableStream } from '@grpc/grpc-js';
import type { ComputeNode, NodeState } from '../../compute/backend';
import { FailedPreconditionError, ValidationError } from '../../errors';
import * as w from '../../gen/spillway/v1/capacity';
import { NodePriority } from '../../gen/spillway/v1/common';
import { BurstMode } from '../../gen/spillway/v1/common';
import {
  durationFromWire,
  durationToWire,
  nodeStates,
  provisioningStates,
  targetOwners,
  workerDispositions,
} from '../../model/wire-mapping';
import type { CapacityGroupView, CapacityManager, SequencedCapacityEvent } from '../capacity/manager';
import type { WorkerView } from '../workers/plan';
import type { WorkerBurstCoordinator } from '../workers/coordinator';
import { abortOf, serverStream, unary, type HandlerContext } from './handlers';
import { parseCursor, pump } from './watch';
import { pageOf } from '../paging';

const eventTypes: Record<SequencedCapacityEvent['type'], w.CapacityEventType> = {
  nodeReady: w.CapacityEventType.CAPACITY_EVENT_TYPE_NODE_READY,
  nodePreempted: w.CapacityEventType.CAPACITY_EVENT_TYPE_NODE_PREEMPTED,
  nodeFailed: w.CapacityEventType.CAPACITY_EVENT_TYPE_NODE_FAILED,
  nodeRemoved: w.CapacityEventType.CAPACITY_EVENT_TYPE_NODE_REMOVED,
  resizeCompleted: w.CapacityEventType.CAPACITY_EVENT_TYPE_RESIZE_COMPLETED,
  resizeFailed: w.CapacityEventType.CAPACITY_EVENT_TYPE_RESIZE_FAILED,
  quotaReached: w.CapacityEventType.CAPACITY_EVENT_TYPE_QUOTA_REACHED,
};

function groupToWire(g: CapacityGroupView): w.CapacityGroup {
  const s = g.status;
  return {
    spec: g.spec,
    status: s
      ? {
          state: provisioningStates.toWire(s.state),
          targetDedicatedNodes: s.targetDedicatedNodes,
          targetSpotNodes: s.targetSpotNodes,
          currentDedicatedNodes: s.currentDedicatedNodes,
          currentSpotNodes: s.currentSpotNodes,
          nodeCounts: Object.entries(s.nodeCounts).map(([state, c]) => ({
            state: nodeStates.toWire(state as NodeState),
            dedicated: c.dedicated,
            spot: c.spot,
          })),
          costPerHour: g.costPerHour,
          errors: s.errors.map((e) => ({ ...e })),
          updatedAt: new Date(),
          backendId: s.backendId,
          targetOwner: g.targetOwner
            ? targetOwners.toWire(g.targetOwner)
            : w.TargetOwner.TARGET_OWNER_UNSPECIFIED,
          pinnedDedicatedNodes: g.pinned.dedicated,
          pinnedSpotNodes: g.pinned.spot,
          spentTotal: g.spentTotal,
          evictions: g.evictedWork.evictions,
          evictedWork: durationToWire(Math.round(g.evictedWork.lostMs)),
          evictedWorkCost: g.evictedWork.lostCost,
          preflight: g.preflight
            ? {
                state: preflightStates[g.preflight.state],
                failures: g.preflight.failures.map((f) => ({
                  code: f.code,
                  subject: f.subject,
                  message: f.message,
                })),
                checkedAt: g.preflight.checkedAt,
                nodeId: g.preflight.nodeId ?? '',
                checks: [...g.preflight.checks],
              }
            : undefined,
          licenseCheck: licenseCheckToWire(g.preflight),
          healthy: g.healthy,
        }
      : undefined,
  };
}

const preflightStates: Record<NonNullable<CapacityGroupView['preflight']>['state'], w.PreflightState> = {
  pending: w.PreflightState.PREFLIGHT_STATE_PENDING,
  passed: w.PreflightState.PREFLIGHT_STATE_PASSED,
  failed: w.PreflightState.PREFLIGHT_STATE_FAILED,
};

/**
 * The deprecated `license_check` (field 15), for clients built before `preflight`: the
 * licence servers' part of the preflight, unset when the group names no licence server.
 */
function licenseCheckToWire(p: CapacityGroupView['preflight']): w.LicenseCheck | undefined {
  if (!p || !p.checks.includes('licence servers')) return undefined;
  const unreachable = p.failures.filter((f) => f.code === 'LicenseServerUnreachable');
  const state = p.state === 'failed' && unreachable.length === 0 ? 'passed' : p.state;
  return {
    state: licenseCheckStates[state],
    unreachable: unreachable.map((f) => f.message),
    checkedAt: p.checkedAt,
    nodeId: p.nodeId ?? '',
  };
}

const licenseCheckStates: Record<NonNullable<CapacityGroupView['preflight']>['state'], w.LicenseCheckState> =
  {
    pending: w.LicenseCheckState.LICENSE_CHECK_STATE_PENDING,
    passed: w.LicenseCheckState.LICENSE_CHECK_STATE_PASSED,
    failed: w.LicenseCheckState.LICENSE_CHECK_STATE_FAILED,
  };

function nodeToWire(n: ComputeNode): w.Node {
  return {
    nodeId: n.id,
    capacityGroup: n.group,
    state: nodeStates.toWire(n.state),
    priority: n.priority === 'spot' ? NodePriority.NODE_PRIORITY_SPOT : NodePriority.NODE_PRIORITY_DEDICATED,
    runningTasks: n.runningTasks,
    createdAt: n.createdAt,
    protectedFromScaleIn: n.protectedFromScaleIn ?? false,
    workerName: n.hostName ?? '',
    gpus: n.gpus ?? 0,
  };
}

/** The CapacityService handlers: validate, call the capacity manager, map errors. */
export function capacityServiceHandlers(
  ctx: HandlerContext,
  capacity: CapacityManager,
  workers?: WorkerBurstCoordinator,
): w.CapacityServiceServer {
  return {
    reportWorkers: unary(ctx, async (req: w.ReportWorkersRequest, call) => {
      const spec = capacity.specOf(req.capacityGroup);
      if (!spec) await capacity.get(req.capacityGroup); // NOT_FOUND naming the group
      if (spec?.mode !== BurstMode.BURST_MODE_WORKER_BURST)
        throw new FailedPreconditionError(
          `capacity group ${JSON.stringify(req.capacityGroup)} is not worker burst: it has no workers to report`,
        );
      if (!workers)
        throw new FailedPreconditionError(
          'this service has no worker-burst backend (configuration workerBurst.subscriptionId and workerBurst.resourceGroup)',
        );
      const views = new Map<string, WorkerView>();
      for (const [i, r] of req.workers.entries()) {
        if (r.workerName === '')
          throw new ValidationError(`workers[${i}].worker_name`, r.workerName, 'is required');
        if (views.has(r.workerName))
          throw new ValidationError(`workers[${i}].worker_name`, r.workerName, 'is reported twice');
        views.set(r.workerName, {
          busy: r.busy,
          acceptingWork: r.acceptingWork,
          ...(r.busySince ? { busySince: r.busySince } : {}),
        });
      }
      const orders = await workers.report(req.capacityGroup, views, {
        abortSignal: abortOf(call),
        source: req.source,
      });
      return {
        orders: orders.map((o) => ({
          workerName: o.workerName,
          nodeId: o.nodeId,
          disposition: workerDispositions.toWire(o.disposition),
        })),
      };
    }),
    listCapacityGroups: unary(ctx, async (req: w.ListCapacityGroupsRequest, call) => {
      const page = pageOf(await capacity.list({ abortSignal: abortOf(call) }), req);
      return { groups: page.items.map(groupToWire), nextPageToken: page.nextPageToken };
    }),
    getCapacityGroup: unary(ctx, async (req: w.GetCapacityGroupRequest) => ({
      group: groupToWire(await capacity.get(req.name)),
    })),
    ensureCapacityGroup: unary(ctx, async (req: w.EnsureCapacityGroupRequest) => {
      if (!req.spec) throw new ValidationError('spec', null, 'is required');
      const { group, created } = await capacity.ensure(req.spec);
      return { group: groupToWire(group), created };
    }),
    resizeCapacityGroup: unary(ctx, async (req: w.ResizeCapacityGroupRequest) => {
      const timeout = durationFromWire(req.resizeTimeout);
      const group = await capacity.resize(
        req.name,
        { dedicated: req.targetDedicatedNodes, spot: req.targetSpotNodes },
        {
          deallocation:
            req.deallocation === w.NodeDeallocation.NODE_DEALLOCATION_REQUEUE ? 'requeue' : 'taskCompletion',
          ...(timeout ? { resizeTimeoutMs: timeout } : {}),
        },
      );
      return { group: groupToWire(group) };
    }),
    deleteCapacityGroup: unary(ctx, async (req: w.DeleteCapacityGroupRequest) => {
      await capacity.delete(req.name);
      return {};
    }),
    getBudget: unary(ctx, async (_req: w.GetBudgetRequest, call) => ({
      budget: { ...(await capacity.budget({ abortSignal: abortOf(call) })) },
    })),
    listNodes: unary(ctx, async (req: w.ListNodesRequest) => {
      const page = pageOf(await capacity.listNodes(req.capacityGroup), req);
      return { nodes: page.items.map(nodeToWire), nextPageToken: page.nextPageToken };
    }),
    watchCapacityEvents: serverStream(
      ctx,
      async (call: ServerWritableStream<w.WatchCapacityEventsRequest, w.WatchCapacityEventsResponse>) => {
        const req = call.request;
        const start = req.afterCursor === '' ? capacity.lastSeq : parseCursor(req.afterCursor);
        if (start === undefined)
          throw new ValidationError('after_cursor', req.afterCursor, 'is not a cursor this service issued');
        await pump(
          call,
          {
            read: (from, limit) => {
              const all = capacity.eventsAfter(from);
              const slice = all.slice(0, limit);
              const items = slice.filter((e) => !req.capacityGroup || e.group === req.capacityGroup);
              return { items, next: slice.length > 0 ? slice[slice.length - 1]!.seq : from };
            },
            subscribe: (l) => capacity.onEvents(l),
          },
          start,
          (events) => ({
            events: events.map((e) => ({
              cursor: String(e.seq),
              time: e.time,
              type: eventTypes[e.type],
              capacityGroup: e.group,
              nodeId: e.nodeId ?? '',
              workerName: '',
              error: e.error ? { ...e.error } : undefined,
            })),
          }),
          { perMessage: 500, heartbeatMs: 15_000 },
        );
      },
    ),
  };
}
