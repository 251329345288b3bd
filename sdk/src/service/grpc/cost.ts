import { ValidationError } from '../../errors';
import type * as w from '../../gen/spillway/v1/cost';
import { costReportToWire } from '../../model/wire-mapping';
import type { CostLedger } from '../cost/ledger';
import { unary, type HandlerContext } from './handlers';

/** The CostService handlers: validate, ask the ledger, map. */
export function costServiceHandlers(ctx: HandlerContext, ledger: CostLedger): w.CostServiceServer {
  return {
    getCostReport: unary(ctx, async (req: w.GetCostReportRequest) => {
      if (req.since && req.since.getTime() > Date.now()) {
        throw new ValidationError('since', req.since.toISOString(), 'is in the future');
      }
      const report = await ledger.report(req.since ? { since: req.since } : {});
      return { report: costReportToWire(report) };
    }),
  };
}
