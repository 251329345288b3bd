/**
 * Quotas checked before capacity is asked for: Azure accepts a resize beyond an account's or
 * a region's quota and only reports it later (`AccountCoreQuotaReached` on the pool, a failed
 * scale-set operation), so Spillway checks first and refuses with the quota named.
 */
import type { TokenCredential } from '@azure/core-auth';
import { ResourceExhaustedError, SpillwayError, ValidationError } from '../errors';
import type { OperationOptions } from './backend';

/** Which quota: Batch account quotas, or ARM regional vCPU usage (scale sets). */
export type QuotaName =
  | 'dedicatedCores'
  | 'lowPriorityCores'
  | 'pools'
  | 'activeJobs'
  | 'regionalCores'
  | 'regionalLowPriorityCores';

const DESCRIPTION: Readonly<Record<QuotaName, { what: string; unit: string }>> = {
  dedicatedCores: { what: "the Batch account's dedicated core quota", unit: 'cores' },
  lowPriorityCores: { what: "the Batch account's low-priority (spot) core quota", unit: 'cores' },
  pools: { what: "the Batch account's pool quota", unit: 'pools' },
  activeJobs: { what: "the Batch account's active job and job schedule quota", unit: 'jobs' },
  regionalCores: { what: 'the subscription\'s regional vCPU quota ("Total Regional vCPUs")', unit: 'vCPUs' },
  regionalLowPriorityCores: {
    what: 'the subscription\'s regional Spot vCPU quota ("Total Regional Low-priority vCPUs")',
    unit: 'vCPUs',
  },
};

/** A request that would go beyond a quota, refused before Azure was asked. Names the quota. */
export class QuotaExceededError extends ResourceExhaustedError {
  constructor(
    /** Which quota. */
    readonly quota: QuotaName,
    /** The quota's limit. */
    readonly limit: number,
    /** In use besides this request (other pools, other scale sets). */
    readonly inUse: number,
    /** What the request needs. */
    readonly requested: number,
    /** What was asked, e.g. `resize group "render" to 10 dedicated nodes`. */
    what: string,
  ) {
    const d = DESCRIPTION[quota];
    super(
      `${what} needs ${requested} ${d.unit}, but ${d.what} (${quota}) is ${limit} with ${inUse} in use besides (${Math.max(0, limit - inUse)} free). Ask Azure for a higher quota, or ask for less.`,
    );
  }
}

/** A Batch account's quotas, as its ARM resource reports them; a missing one is not checked. */
export interface BatchAccountQuotas {
  /** `dedicatedCoreQuota`. */
  readonly dedicatedCores?: number;
  /** `lowPriorityCoreQuota` (spot cores). */
  readonly lowPriorityCores?: number;
  /** `poolQuota`. */
  readonly pools?: number;
  /** `activeJobAndJobScheduleQuota`. */
  readonly activeJobs?: number;
}

/** Where a Batch backend reads its account's quotas. */
export interface BatchQuotaSource {
  getQuotas(options?: OperationOptions): Promise<BatchAccountQuotas>;
}

/** Quotas given as numbers (what the Azure portal shows on the account's Quotas page). */
export function fixedBatchQuotas(quotas: BatchAccountQuotas): BatchQuotaSource {
  for (const [k, v] of Object.entries(quotas)) {
    if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < 0))
      throw new ValidationError(`quotas.${k}`, v, 'must be a whole number of at least 0');
  }
  return { getQuotas: async () => quotas };
}

/** Options of {@link ArmBatchQuotaSource}. */
export interface ArmBatchQuotaSourceOptions {
  /** The account's ARM resource id: `/subscriptions/…/resourceGroups/…/providers/Microsoft.Batch/batchAccounts/…`. */
  readonly accountResourceId: string;
  /** Azure AD credential with read access to the account. */
  readonly credential: TokenCredential;
  /** ARM endpoint (or an emulator's). @default 'https://management.azure.com' */
  readonly endpoint?: string;
  /** @default 'https://management.azure.com/.default' */
  readonly scope?: string;
  /** Quotas change rarely: read again after this long. @default 300000 */
  readonly cacheMs?: number;
  /** Timeout of the request. @default 30000 */
  readonly requestTimeoutMs?: number;
}

const ACCOUNT_ID =
  /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.Batch\/batchAccounts\/[^/]+$/i;
/** The Microsoft.Batch management API version read. */
export const BATCH_MANAGEMENT_API_VERSION = '2024-02-01';

/**
 * Reads a Batch account's quotas from its ARM resource (`Microsoft.Batch/batchAccounts` GET:
 * `dedicatedCoreQuota`, `lowPriorityCoreQuota`, `poolQuota`, `activeJobAndJobScheduleQuota`),
 * cached for `cacheMs`. `spillway emulate batch` serves the same resource at its own address.
 */
export class ArmBatchQuotaSource implements BatchQuotaSource {
  private cached?: { quotas: BatchAccountQuotas; at: number };

  constructor(private readonly options: ArmBatchQuotaSourceOptions) {
    if (!ACCOUNT_ID.test(options.accountResourceId ?? '')) {
      throw new ValidationError(
        'accountResourceId',
        options.accountResourceId,
        'must be a Batch account resource id: /subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Batch/batchAccounts/<name>',
      );
    }
  }

  async getQuotas(options: OperationOptions = {}): Promise<BatchAccountQuotas> {
    const cacheMs = this.options.cacheMs ?? 300_000;
    if (this.cached && Date.now() - this.cached.at < cacheMs) return this.cached.quotas;
    const token = await this.options.credential.getToken(
      this.options.scope ?? 'https://management.azure.com/.default',
      options.abortSignal ? { abortSignal: options.abortSignal } : {},
    );
    if (!token) throw new ResourceExhaustedError('no Azure AD token to read the Batch account quotas');
    const url = `${(this.options.endpoint ?? 'https://management.azure.com').replace(/\/+$/, '')}${this.options.accountResourceId}?api-version=${BATCH_MANAGEMENT_API_VERSION}`;
    const signals = [AbortSignal.timeout(this.options.requestTimeoutMs ?? 30_000)];
    if (options.abortSignal) signals.push(options.abortSignal);
    const res = await fetch(url, {
      headers: { authorization: `Bearer ${token.token}`, accept: 'application/json' },
      signal: AbortSignal.any(signals),
    });
    const body = (await res.json().catch(() => ({}))) as {
      properties?: Record<string, unknown>;
      error?: { code?: string; message?: string };
    };
    if (!res.ok) {
      throw new QuotaReadError(
        `reading the Batch account quotas (${this.options.accountResourceId}) failed: ${res.status} ${body.error?.code ?? ''} ${body.error?.message ?? ''}`.trim(),
      );
    }
    const p = body.properties ?? {};
    const n = (k: string): number | undefined => (typeof p[k] === 'number' ? (p[k] as number) : undefined);
    const quotas: BatchAccountQuotas = {
      ...(n('dedicatedCoreQuota') !== undefined ? { dedicatedCores: n('dedicatedCoreQuota') } : {}),
      ...(n('lowPriorityCoreQuota') !== undefined ? { lowPriorityCores: n('lowPriorityCoreQuota') } : {}),
      ...(n('poolQuota') !== undefined ? { pools: n('poolQuota') } : {}),
      ...(n('activeJobAndJobScheduleQuota') !== undefined
        ? { activeJobs: n('activeJobAndJobScheduleQuota') }
        : {}),
    };
    this.cached = { quotas, at: Date.now() };
    return quotas;
  }
}

/** The account's quotas could not be read (the resize is not attempted: it could not be checked). */
export class QuotaReadError extends SpillwayError {
  constructor(message: string) {
    super(message, 'UNAVAILABLE');
  }
}
