import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import * as v8 from 'node:v8';
import { loadConfig } from '../../config';
import { createLogger, type Logger } from '../../logging';
import { embeddedProviders } from '../../service/embedded';
import { startService } from '../../service/runtime';
import type { Command } from '../command';

const help = `Usage: spillway serve [options]

Runs the burst-capacity service (gRPC, spillway.v1). With no configuration it is the
embedded default: the local engine, on loopback. Stop it with Ctrl-C (SIGINT) or SIGTERM;
it can also be killed outright at any moment and restarted without losing anything.

  --listen HOST:PORT     where to listen (default 127.0.0.1:7443; port 0 picks one)
  --config FILE          JSON configuration (see the README's configuration table)
  --data-dir DIR         state directory (default ~/.spillway)
  --nodes N              local engine nodes (default 4)
  --slots N              task slots per local node (default 1)
  --token-file FILE      bearer token clients must send
  --tls-cert FILE        server certificate (PEM); required off loopback
  --tls-key FILE         server key (PEM)
  --tls-client-ca FILE   require client certificates signed by this CA
  --address-file FILE    write the bound host:port here once listening
  --log-level LEVEL      debug, info, warn or error (default info)

Off loopback the service refuses to start without TLS and a token (or client certificates).

Example:
  spillway serve --listen 127.0.0.1:7443 --nodes 8`;

/** See `serveCommand.run`. */
const SERVICE_HEAP_GROWING_PERCENT = 30;

export const serveCommand: Command = {
  name: 'serve',
  summary: 'run the burst-capacity service',
  help,
  async run(args) {
    // A long-running service: collect old garbage when the heap has grown 30 % past what
    // survived the last full GC, not the default several-fold (a 10,000-frame submission
    // otherwise leaves ~100 MB of dead dispatch objects waiting). Costs a little GC time.
    v8.setFlagsFromString(`--heap-growing-percent=${SERVICE_HEAP_GROWING_PERCENT}`);
    const { values } = parseArgs({
      args,
      options: {
        listen: { type: 'string' },
        config: { type: 'string' },
        'data-dir': { type: 'string' },
        nodes: { type: 'string' },
        slots: { type: 'string' },
        'token-file': { type: 'string' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        'tls-client-ca': { type: 'string' },
        'address-file': { type: 'string' },
        'log-level': { type: 'string' },
      },
    });
    const overrides: Record<string, unknown> = {};
    const flag = (key: string, value: string | undefined): void => {
      if (value !== undefined) overrides[key] = value;
    };
    flag('listen', values.listen);
    flag('dataDir', values['data-dir']);
    flag('compute.local.nodes', values.nodes);
    flag('compute.local.slotsPerNode', values.slots);
    flag('tokenFile', values['token-file']);
    flag('tls.certFile', values['tls-cert']);
    flag('tls.keyFile', values['tls-key']);
    flag('tls.clientCaFile', values['tls-client-ca']);
    flag('log.level', values['log-level']);
    const config = loadConfig({ ...(values.config ? { file: values.config } : {}), overrides });
    const logger: Logger = createLogger({
      level: config.log.level,
      format: config.log.format,
      name: 'service',
    });
    const service = await startService(config, embeddedProviders(config), logger);
    if (values['address-file']) fs.writeFileSync(values['address-file'], service.address);
    console.log(`spillway service listening on ${service.address} (state in ${config.dataDir})`);
    await new Promise<void>((resolve) => {
      const stop = (): void => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        resolve();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    logger.info('stopping');
    await service.close();
    return 0;
  },
};
