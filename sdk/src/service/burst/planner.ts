/**
 * The service's planners: the burst policy (the default) and the greedy baseline, both pure
 * functions of the same input (`PlanBurstInput`: every farm's latest report with its cloud
 * frames, the capacity groups with their figures and nodes, the spend cap).
 */
import type { PlanDecision, PlannerName } from '../../model/burst';
import { planBurst, type PlanBurstInput } from '../../policy/burst-policy';
import { greedyPlan } from '../../policy/greedy';

/** Everything a plan is made from. */
export type PlanInput = PlanBurstInput;

/** Turns the studio's farms and cloud into a plan for one source. */
export type Planner = (input: PlanInput) => PlanDecision;

/** The planners by configuration name (`burst.planner`). */
export const PLANNERS: Readonly<Record<PlannerName, Planner>> = {
  policy: planBurst,
  greedy: greedyPlan,
};
