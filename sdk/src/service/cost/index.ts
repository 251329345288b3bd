/** What capacity and frames cost over any window: the ledger behind `spillway cost`. */
export { CostLedger, type CostLedgerOptions, type LedgerCapacity } from './ledger';
