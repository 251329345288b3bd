/**
 * What `spillway serve` builds from a configuration: the backends (the durable local engine,
 * Azure Batch, VM Scale Sets) and Blob Storage (Azurite started embedded when no account is
 * configured). Configuration in, configured parts out: no domain logic here.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TokenCredential } from '@azure/core-auth';
import { DefaultAzureCredential } from '@azure/identity';
import type { CapacityBackend, ComputeBackend } from '../compute/backend';
import { BatchComputeBackend } from '../compute/batch';
import { openDurableLocalBackend, RENDER_NICENESS, type OutputUrlSigner } from '../compute/local';
import { fixedBatchQuotas } from '../compute/quota';
import type { RegisteredBackend } from '../compute/registry';
import { ScaleSetBackend } from '../compute/scaleset';
import { readSecretFile, type ServiceConfig, type WorkerBurstConfig } from '../config';
import { ValidationError } from '../errors';
import { registerSecret, type Logger } from '../logging';
import { issueSas } from '../storage';
import { blobStorage } from './blob-storage';
import type { RuntimeProviders } from './runtime';

/**
 * The embedded default's compute: the durable local engine, in `<dataDir>/engine`.
 * `outputSigner` signs uploads of tasks that ended while no service watched (set by storage).
 */
export async function localCompute(
  config: ServiceConfig,
  logger: Logger,
  outputSigner: { current?: OutputUrlSigner } = {},
): Promise<ComputeBackend> {
  return openDurableLocalBackend({
    engineDir: path.join(config.dataDir, 'engine'),
    logger,
    outputSigner,
    bootDelayMs: config.compute.local.bootDelayMs,
    // Tasks share the machine with the service: they yield the CPU to it.
    niceness: RENDER_NICENESS,
    nodeEnvironment: nodePython(),
  });
}

/**
 * The interpreter the node script runs with (see `wrapRenderCommand`): `SPILLWAY_PYTHON` if
 * the service has it, else the system's `/usr/bin/python3` when present.
 */
function nodePython(): Record<string, string> {
  const chosen = process.env.SPILLWAY_PYTHON ?? (fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : '');
  return chosen ? { SPILLWAY_PYTHON: chosen } : {};
}

/**
 * The providers `spillway serve` builds from a configuration: the durable local engine or
 * Azure Batch for frame offload, VM Scale Sets for worker burst when configured, and Blob
 * Storage for assets in and outputs back.
 */
export function embeddedProviders(config: ServiceConfig): RuntimeProviders {
  const batch = config.compute.backend === 'batch' ? config.compute.batch : undefined;
  if (config.compute.backend === 'batch' && !batch) {
    throw new ValidationError('compute.batch.accountUrl', '', 'is required when compute.backend is "batch"');
  }
  // The engine uploads outputs of tasks that ended while no service watched: storage signs them.
  const outputSigner: { current?: OutputUrlSigner } = {};
  return {
    async backends(c, logger) {
      const backends: RegisteredBackend[] = [
        batch
          ? { name: 'batch', mode: 'frame-offload', backend: batchCompute(batch, logger) }
          : { name: 'local', mode: 'frame-offload', backend: await localCompute(c, logger, outputSigner) },
      ];
      if (c.workerBurst) {
        backends.push({
          name: 'scaleset',
          mode: 'worker-burst',
          backend: scaleSetBackend(c.workerBurst, logger),
        });
      }
      return backends;
    },
    storage: async (c, logger) => {
      const storage = await blobStorage(c, logger);
      const outputs = storage.containers.outputs;
      outputSigner.current = async (containerUrl) => {
        if (containerUrl !== outputs.url) throw new Error('not the outputs container');
        return (await issueSas(outputs, { access: 'write', expiresInMs: 3_600_000 })).url;
      };
      return storage;
    },
  };
}

/** Azure Batch (or `spillway emulate batch`) as the frame-offload backend. */
export function batchCompute(
  config: NonNullable<ServiceConfig['compute']['batch']>,
  _logger: Logger,
): ComputeBackend {
  if (config.accountKeyFile && !config.accountName) {
    throw new ValidationError(
      'compute.batch.accountName',
      '',
      'is required with compute.batch.accountKeyFile',
    );
  }
  let credential: ConstructorParameters<typeof BatchComputeBackend>[0]['credential'];
  if (config.accountKeyFile) {
    const accountKey = readSecretFile(config.accountKeyFile, 'compute.batch.accountKeyFile');
    registerSecret(accountKey);
    credential = { accountName: config.accountName!, accountKey };
  } else {
    credential = new DefaultAzureCredential();
  }
  return new BatchComputeBackend({
    accountUrl: config.accountUrl,
    credential,
    ...(config.quota ? { quotas: fixedBatchQuotas(config.quota) } : {}),
  });
}

/** The worker-burst backend for a configuration: Azure (or `spillway emulate arm`). */
export function scaleSetBackend(config: WorkerBurstConfig, logger: Logger): CapacityBackend {
  const credential: TokenCredential = config.tokenFile
    ? staticToken(readSecretFile(config.tokenFile, 'workerBurst.tokenFile'))
    : new DefaultAzureCredential();
  return new ScaleSetBackend({
    credential,
    subscriptionId: config.subscriptionId,
    resourceGroup: config.resourceGroup,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    ...(config.caFile ? { trustedCaPem: fs.readFileSync(config.caFile, 'utf8') } : {}),
    logger,
  });
}

function staticToken(token: string): TokenCredential {
  registerSecret(token);
  return { getToken: async () => ({ token, expiresOnTimestamp: Date.now() + 3_600_000 }) };
}
