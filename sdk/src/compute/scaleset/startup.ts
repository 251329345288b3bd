/**
 * Worker start-up templates: the script a worker-burst instance runs at first boot (its
 * custom data) so the render manager's worker starts and joins the farm. Pure functions.
 *
 * The script never carries a secret: farm credentials are fetched at boot from the secret
 * store reference (e.g. a Key Vault secret URI) with the instance's managed identity.
 */
import { ValidationError } from '../../errors';
import { redact } from '../../logging/redact';
import { shellQuote } from '../../template/shell';

/** Render managers a worker-burst instance can join. */
export type RenderManager = 'deadline' | 'opencue';

/** How a worker-burst instance joins the farm (proto `spillway.v1.WorkerStartup`). */
export interface WorkerStartup {
  /** Which render manager the instance joins. */
  readonly renderManager: RenderManager;
  /** Deadline: repository path or Remote Connection Server `host:port`. OpenCue: Cuebot `host:port`. */
  readonly farmAddress: string;
  /** Deadline groups, or OpenCue tags, the worker advertises. @default [] */
  readonly groups?: readonly string[];
  /** Deadline pools the worker serves. Unused for OpenCue. @default [] */
  readonly pools?: readonly string[];
  /** OpenCue facility. Unused for Deadline. @default 'cloud' */
  readonly facility?: string;
  /**
   * Reference to a secret in a secret store (a Key Vault secret URI) that the instance
   * reads at boot for farm credentials. Never the secret itself. @default none
   */
  readonly secretReference?: string;
  /** A custom start-up command; replaces the render manager's default worker command. @default none */
  readonly command?: string;
}

/** Azure's limit on custom data: the decoded bytes. */
export const CUSTOM_DATA_MAX_BYTES = 65_535;

const RENDER_MANAGERS: readonly string[] = ['deadline', 'opencue'];

/** Values that look like credentials: refused anywhere in a start-up spec. */
const SECRET_SHAPES: readonly RegExp[] = [
  /-----BEGIN [A-Z ]*PRIVATE KEY-----/,
  /\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\./, // a JWT (bearer token)
];

/** A long base64 run with mixed case and digits (a storage account key is 88 characters ending `==`). */
function looksLikeKey(value: string): boolean {
  for (const [run] of value.matchAll(/[A-Za-z0-9+/]{40,}={0,2}/g)) {
    const mixed = /[0-9]/.test(run) && /[A-Z]/.test(run) && /[a-z]/.test(run);
    if (mixed && (run.endsWith('=') || run.length >= 64)) return true;
  }
  return false;
}

/** True when `value` looks like it holds a credential (key, SAS signature, token, password). */
export function looksLikeSecret(value: string): boolean {
  return redact(value) !== value || SECRET_SHAPES.some((re) => re.test(value)) || looksLikeKey(value);
}

/** Shell-quotes a value for POSIX `sh`: the one quoting function, from `template`. */
export { shellQuote };

/**
 * Validates a start-up spec before anything is rendered or sent. Errors name the field
 * (under `prefix`) and quote the value, except values that look like secrets, which are
 * never repeated.
 */
export function validateWorkerStartup(startup: WorkerStartup, prefix = 'workerStartup'): void {
  if (!RENDER_MANAGERS.includes(startup.renderManager)) {
    throw new ValidationError(
      `${prefix}.renderManager`,
      startup.renderManager,
      'must be "deadline" or "opencue"',
    );
  }
  const fields: [string, string | undefined][] = [
    ['farmAddress', startup.farmAddress],
    ['facility', startup.facility],
    ['secretReference', startup.secretReference],
    ['command', startup.command],
    ...(startup.groups ?? []).map((g, i): [string, string] => [`groups[${i}]`, g]),
    ...(startup.pools ?? []).map((p, i): [string, string] => [`pools[${i}]`, p]),
  ];
  for (const [name, value] of fields) {
    if (value !== undefined && typeof value !== 'string') {
      throw new ValidationError(`${prefix}.${name}`, value, 'must be a string');
    }
    if (value !== undefined && looksLikeSecret(value)) {
      throw new ValidationError(
        `${prefix}.${name}`,
        '<redacted>',
        'looks like a credential; custom data is readable on the VM and in ARM, so name a secret-store reference in secretReference instead',
      );
    }
  }
  if (typeof startup.farmAddress !== 'string' || startup.farmAddress.trim() === '') {
    throw new ValidationError(
      `${prefix}.farmAddress`,
      startup.farmAddress,
      'must name the repository, RCS or Cuebot address',
    );
  }
  if (
    startup.secretReference !== undefined &&
    !/^(https:\/\/|kv:\/\/|secret:\/\/)\S+$/.test(startup.secretReference)
  ) {
    throw new ValidationError(
      `${prefix}.secretReference`,
      startup.secretReference,
      'must be a secret-store reference such as https://<vault>.vault.azure.net/secrets/<name>',
    );
  }
  const names = [...(startup.groups ?? []), ...(startup.pools ?? [])];
  for (const [i, name] of names.entries()) {
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) {
      const field =
        i < (startup.groups ?? []).length ? `groups[${i}]` : `pools[${i - (startup.groups ?? []).length}]`;
      throw new ValidationError(`${prefix}.${field}`, name, 'must be 1-64 characters of A-Z a-z 0-9 _ . -');
    }
  }
}

function header(startup: WorkerStartup): string[] {
  const lines = [
    '#!/bin/sh',
    '# Spillway worker burst: rendered by @spillway/sdk. No secrets in here, by design.',
    'set -eu',
    `export SPILLWAY_RENDER_MANAGER=${shellQuote(startup.renderManager)}`,
    `export SPILLWAY_FARM_ADDRESS=${shellQuote(startup.farmAddress)}`,
    `export SPILLWAY_GROUPS=${shellQuote((startup.groups ?? []).join(','))}`,
    `export SPILLWAY_POOLS=${shellQuote((startup.pools ?? []).join(','))}`,
    `export SPILLWAY_FACILITY=${shellQuote(startup.facility ?? 'cloud')}`,
  ];
  if (startup.secretReference !== undefined) {
    lines.push(
      `export SPILLWAY_SECRET_REFERENCE=${shellQuote(startup.secretReference)}`,
      '# Farm credentials: fetched at boot with the VM managed identity, kept out of custom data.',
      'spillway_fetch_secret() {',
      '  token=$(curl -fsS -H Metadata:true "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net" | sed -n \'s/.*"access_token":"\\([^"]*\\)".*/\\1/p\')',
      '  curl -fsS -H "Authorization: Bearer $token" "$SPILLWAY_SECRET_REFERENCE?api-version=7.4" | sed -n \'s/.*"value":"\\([^"]*\\)".*/\\1/p\'',
      '}',
      'umask 077',
      'spillway_fetch_secret > "${SPILLWAY_SECRET_FILE:-/run/spillway-farm-secret}" || echo "spillway: could not read the farm secret" >&2',
      'umask 022',
    );
  }
  return lines;
}

function deadlineCommand(startup: WorkerStartup): string[] {
  const repo = startup.farmAddress;
  // A host:port is a Remote Connection Server; anything else a mounted repository path.
  const rcs = /^[A-Za-z0-9.-]+:\d+$/.test(repo);
  const lines = ['DEADLINE_BIN=${DEADLINE_BIN:-/opt/Thinkbox/Deadline10/bin}', 'WORKER=$(hostname)'];
  if (rcs && startup.secretReference !== undefined) {
    // A Key Vault certificate's secret value is the base64 PFX: the RCS client certificate.
    lines.push(
      'umask 077',
      'base64 -d "${SPILLWAY_SECRET_FILE:-/run/spillway-farm-secret}" > /run/spillway-rcs-client.pfx',
      'umask 022',
      `"$DEADLINE_BIN/deadlinecommand" -ChangeRepository Proxy ${shellQuote(repo)} /run/spillway-rcs-client.pfx`,
    );
  } else if (rcs) {
    lines.push(`"$DEADLINE_BIN/deadlinecommand" -ChangeRepository Proxy ${shellQuote(repo)}`);
  } else {
    lines.push(`"$DEADLINE_BIN/deadlinecommand" -ChangeRepository Direct ${shellQuote(repo)}`);
  }
  if ((startup.groups ?? []).length > 0) {
    lines.push(
      `"$DEADLINE_BIN/deadlinecommand" -SetGroupsForSlave "$WORKER" ${shellQuote(startup.groups!.join(','))}`,
    );
  }
  if ((startup.pools ?? []).length > 0) {
    lines.push(
      `"$DEADLINE_BIN/deadlinecommand" -SetPoolsForSlave "$WORKER" ${shellQuote(startup.pools!.join(','))}`,
    );
  }
  lines.push('exec "$DEADLINE_BIN/deadlineworker" -nogui -name "$WORKER"');
  return lines;
}

function opencueCommand(): string[] {
  return [
    '# RQD reads its Cuebot, port, facility and tags from the [Override] section of rqd.conf.',
    'RQD_CONFIG_FILE="${RQD_CONFIG_FILE:-/etc/opencue/rqd.conf}"',
    'mkdir -p "$(dirname "$RQD_CONFIG_FILE")"',
    'case "$SPILLWAY_FARM_ADDRESS" in *:*) cuebot_port="${SPILLWAY_FARM_ADDRESS##*:}" ;; *) cuebot_port=8443 ;; esac',
    '{',
    "  echo '[Override]'",
    '  echo "OVERRIDE_CUEBOT=${SPILLWAY_FARM_ADDRESS%:*}"',
    '  echo "CUEBOT_GRPC_PORT=$cuebot_port"',
    '  echo "DEFAULT_FACILITY=$SPILLWAY_FACILITY"',
    `  if [ -n "$SPILLWAY_GROUPS" ]; then echo "RQD_TAGS=$(printf %s "$SPILLWAY_GROUPS" | tr , ' ')"; fi`,
    '} > "$RQD_CONFIG_FILE"',
    'exec rqd -c "$RQD_CONFIG_FILE"',
  ];
}

/**
 * The Spot eviction-notice watcher: Azure announces an eviction about 30 s ahead with a
 * `Preempt` scheduled event, readable only inside the VM (Instance Metadata Service). On
 * notice the worker is stopped the way its render manager stops it (SIGTERM: a Deadline
 * Worker or RQD gives its frame back when it shuts down), so the frame is requeued at once
 * rather than after the farm's stall timeout.
 */
function noticeWatcher(): string[] {
  return [
    'spillway_watch_notice() {',
    '  imds="${SPILLWAY_IMDS_ENDPOINT:-http://169.254.169.254}"',
    '  vm=""',
    '  while kill -0 "$SPILLWAY_WORKER_PID" 2>/dev/null; do',
    '    if [ -z "$vm" ]; then',
    '      vm=$(curl -fsS -m 5 -H Metadata:true "$imds/metadata/instance/compute/name?api-version=2021-02-01&format=text" 2>/dev/null || true)',
    '    fi',
    '    events=$(curl -fsS -m 5 -H Metadata:true "$imds/metadata/scheduledevents?api-version=2020-07-01" 2>/dev/null || true)',
    '    case "$events" in',
    `      *'"Preempt"'*)`,
    '        case "$events" in',
    '          *"\\"$vm\\""*)',
    '            if [ -n "$vm" ]; then',
    '              echo "spillway: eviction notice for $vm; stopping the worker so it gives its frame back" >&2',
    '              kill -TERM "$SPILLWAY_WORKER_PID" 2>/dev/null || true',
    '              return 0',
    '            fi',
    '            ;;',
    '        esac',
    '        ;;',
    '    esac',
    '    sleep "${SPILLWAY_NOTICE_POLL_SECONDS:-2}"',
    '  done',
    '}',
  ];
}

/** Options of `renderWorkerStartup`. */
export interface RenderWorkerStartupOptions {
  /**
   * Watch for Spot eviction notices and stop the worker on notice (Spot scale sets).
   * @default false
   */
  readonly evictionNotice?: boolean;
  /** Lines run before the worker starts (the group's mounts: `storage.renderMountCommands`). @default none */
  readonly before?: readonly string[];
}

/**
 * Renders the start-up script for a worker-burst instance. With `command` set, the
 * command replaces the render manager's default worker start; the farm settings stay in
 * the environment (`SPILLWAY_FARM_ADDRESS`, `SPILLWAY_GROUPS`, ...). With `evictionNotice`
 * the worker runs beside the eviction-notice watcher.
 */
export function renderWorkerStartup(
  startup: WorkerStartup,
  options: RenderWorkerStartupOptions = {},
): string {
  validateWorkerStartup(startup);
  const body =
    startup.command !== undefined
      ? [startup.command]
      : startup.renderManager === 'deadline'
        ? deadlineCommand(startup)
        : opencueCommand();
  const before = options.before ?? [];
  if (!options.evictionNotice) return [...header(startup), ...before, ...body, ''].join('\n');
  return [
    ...header(startup),
    ...before,
    'spillway_worker() {',
    ...body,
    '}',
    ...noticeWatcher(),
    'spillway_worker &',
    'SPILLWAY_WORKER_PID=$!',
    `trap 'kill -TERM "$SPILLWAY_WORKER_PID" 2>/dev/null || true' TERM INT`,
    'spillway_watch_notice &',
    'wait "$SPILLWAY_WORKER_PID"',
    '',
  ].join('\n');
}

/** Base64 custom data for a script, checked against Azure's 65,535-byte limit. */
export function encodeCustomData(script: string, field = 'workerStartup'): string {
  const bytes = Buffer.byteLength(script, 'utf8');
  if (bytes > CUSTOM_DATA_MAX_BYTES) {
    throw new ValidationError(
      field,
      `${script.slice(0, 40)}… (${bytes} bytes)`,
      `renders to ${bytes} bytes of custom data, over Azure's limit of ${CUSTOM_DATA_MAX_BYTES}; move the script to the image or a download`,
    );
  }
  return Buffer.from(script, 'utf8').toString('base64');
}
