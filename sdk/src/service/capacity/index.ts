/** Capacity groups and who owns their capacity: pins, maxima, busy nodes, the budget, spend. */
export {
  BudgetExceededError,
  CapacityManager,
  involves,
  toBackendSpec,
  type AppliedPlan,
  type AppliedTarget,
  type BudgetView,
  type CapacityGroupView,
  type CapacityManagerOptions,
  type PlanContext,
  type PlanTarget,
  type SequencedCapacityEvent,
  type TargetOwner,
} from './manager';
export { SpendMeter, type SpendMeterOptions, type SpendSnapshot } from './spend';
export {
  checkBudget,
  clampPlan,
  costOf,
  type BudgetCap,
  type BudgetRefusal,
  type ClampedTarget,
  type ClampGroup,
  type ClampLimit,
  type NodePair,
  type NodePrices,
} from './targets';
