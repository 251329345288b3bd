import * as fs from 'node:fs';
import * as v8 from 'node:v8';
import type { Command } from '@commander-js/extra-typings';
import { exits, oneOf, typedOption, wholeNumber } from '../command';
import { untilStopped } from '../../logging/pipe';

/** See the action. */
const SERVICE_HEAP_GROWING_PERCENT = 30;

/** `spillway serve`: the burst-capacity service. */
export function register(program: Command): void {
  program
    .command('serve')
    .summary('run the burst-capacity service')
    .description(
      'run the burst-capacity service (gRPC, spillway.v1). With no configuration it is the embedded default: the local engine, on loopback. Stop it with Ctrl-C (SIGINT) or SIGTERM; it can also be killed outright at any moment and restarted without losing anything. Off loopback it refuses to start without TLS and a token (or client certificates)',
    )
    .option('--listen <HOST:PORT>', 'where to listen; port 0 picks one (default: 127.0.0.1:7443)')
    .option(
      '--http <HOST:PORT>',
      'where the status page and /metrics listen, or "off"; same TLS and token rules as --listen (default: 127.0.0.1:7480)',
    )
    .option('--config <FILE>', "JSON configuration (see the README's configuration table)")
    .option('--data-dir <DIR>', 'state directory (default: $SPILLWAY_DATA_DIR or ~/.spillway)')
    .addOption(typedOption('--nodes <N>', 'local engine nodes (default: 4)', wholeNumber({ max: 1000 })))
    .addOption(
      typedOption('--slots <N>', 'task slots per local node (default: 1)', wholeNumber({ min: 1, max: 256 })),
    )
    .option('--token-file <FILE>', 'bearer token clients must send')
    .option('--tls-cert <FILE>', 'server certificate (PEM); required off loopback')
    .option('--tls-key <FILE>', 'server key (PEM)')
    .option('--tls-client-ca <FILE>', 'require client certificates signed by this CA')
    .option('--address-file <FILE>', 'write the bound host:port here once listening')
    .addOption(
      typedOption(
        '--log-level <LEVEL>',
        'debug, info, warn or error (default: info)',
        oneOf(['debug', 'info', 'warn', 'error'] as const),
      ),
    )
    .addOption(
      typedOption(
        '--log-format <FORMAT>',
        'text (for people) or json (one JSON object per line, for log shippers) (default: text)',
        oneOf(['text', 'json'] as const),
      ),
    )
    .addHelpText('after', '\nExample:\n  spillway serve --listen 127.0.0.1:7443 --nodes 8')
    .action(
      exits(async (opts) => {
        // A long-running service: collect old garbage when the heap has grown 30 % past what
        // survived the last full GC, not the default several-fold (a 10,000-frame submission
        // otherwise leaves ~100 MB of dead dispatch objects waiting). Costs a little GC time.
        v8.setFlagsFromString(`--heap-growing-percent=${SERVICE_HEAP_GROWING_PERCENT}`);
        const { loadConfig } = require('../../config') as typeof import('../../config');
        const { createLogger } = require('../../logging') as typeof import('../../logging');
        const { embeddedProviders } =
          require('../../service/embedded') as typeof import('../../service/embedded');
        const { startService } = require('../../service/runtime') as typeof import('../../service/runtime');
        const overrides: Record<string, unknown> = {};
        const flag = (key: string, value: unknown): void => {
          if (value !== undefined) overrides[key] = value;
        };
        flag('listen', opts.listen);
        flag('http.listen', opts.http);
        flag('dataDir', opts.dataDir);
        flag('compute.local.nodes', opts.nodes);
        flag('compute.local.slotsPerNode', opts.slots);
        flag('tokenFile', opts.tokenFile);
        flag('tls.certFile', opts.tlsCert);
        flag('tls.keyFile', opts.tlsKey);
        flag('tls.clientCaFile', opts.tlsClientCa);
        flag('log.level', opts.logLevel);
        flag('log.format', opts.logFormat);
        const config = loadConfig({ ...(opts.config ? { file: opts.config } : {}), overrides });
        const logger = createLogger({ level: config.log.level, format: config.log.format, name: 'service' });
        const service = await startService(config, embeddedProviders(config), logger);
        if (opts.addressFile) fs.writeFileSync(opts.addressFile, service.address);
        console.log(`spillway service listening on ${service.address} (state in ${config.dataDir})`);
        if (service.httpUrl)
          console.log(`status page: ${service.httpUrl} (Prometheus metrics: ${service.httpUrl}metrics)`);
        await untilStopped();
        logger.info('stopping');
        await service.close();
        return 0;
      }),
    );
}
