/** Compute backends: the contract, and (as they land) `local`, `batch` and `scaleset`. */
export * from './backend';
