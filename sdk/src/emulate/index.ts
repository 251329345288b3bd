/**
 * Local, HTTP-compatible endpoints for testing against the real Azure clients with no Azure
 * account: the Azure Batch REST subset over the local engine (`spillway emulate batch`) and
 * the Microsoft.Compute VM Scale Sets subset over local processes (`spillway emulate arm`).
 */
export * from './batch';
export * from './arm';
