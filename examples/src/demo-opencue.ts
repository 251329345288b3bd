// `npm start -- --farm opencue`: the same burst against an OpenCue farm. A fake Cuebot with 2
// local hosts books a 24-frame layer tagged `burst`; Spillway joins as a virtual render host
// in the `cloud.burst` allocation, takes the overflow, runs it on the embedded service, and
// reports each frame complete so Cuebot marks it SUCCEEDED by its own rules.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { resolveConfig, VirtualHost } from '@spillway/bridge-opencue';
import {
  blenderAvailable,
  buildBlenderScene,
  FakeCuebot,
  SimulatedRqdHost,
} from '@spillway/bridge-opencue/testing';
import { createLogger, sleep } from '@spillway/sdk';
import { loadConfig } from '@spillway/sdk/config';
import { embeddedProviders, startService } from '@spillway/sdk/service';

const FRAMES = Number(process.env.DEMO_FRAMES ?? 24);
const HOST = 'azure-burst';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** Runs the OpenCue variant of the demo; resolves to the exit code. */
export async function runOpenCueDemo(): Promise<number> {
  const started = Date.now();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-demo-cue-'));
  const outDir = path.join(work, 'renders');
  fs.mkdirSync(outDir, { recursive: true });
  const logLines: string[] = [];
  const quiet = createLogger({ level: 'warn', write: (l) => logLines.push(l) });
  const blender = blenderAvailable();
  console.log('Spillway demo (OpenCue): 2 local hosts, a 24-frame layer, Spillway as a virtual host.');
  console.log(
    `  renderer: ${blender ? 'Blender (found on PATH)' : 'built-in PNG renderer (Blender not installed)'}`,
  );

  const config = loadConfig({
    env: {},
    overrides: { listen: '127.0.0.1:0', dataDir: path.join(work, 'spillway'), 'compute.local.nodes': 3 },
  });
  const service = await startService(config, embeddedProviders(config), quiet);
  const cuebot = await FakeCuebot.start({ dispatchIntervalMs: 200, hostTimeoutMs: 10_000 });
  cuebot.subscribe('demo', 'local.general', 2, 2);
  const hosts: SimulatedRqdHost[] = [];
  for (const name of ['local-1', 'local-2']) {
    const h = await SimulatedRqdHost.start({
      name,
      cuebot: cuebot.address,
      cores: 1,
      reportIntervalMs: 500,
      workDir: work,
    });
    cuebot.mapHost(name, h.rqdAddress);
    hosts.push(h);
  }
  const rqdPort = await freePort();
  cuebot.mapHost(HOST, `127.0.0.1:${rqdPort}`);
  const host = await VirtualHost.start(
    resolveConfig(
      {},
      {
        cuebot: cuebot.address,
        service: service.address,
        hostName: HOST,
        rqdPort,
        rqdListenHost: '127.0.0.1',
        cores: 3,
        reportIntervalMs: 500,
        turnaroundSeconds: 60,
        stateDir: path.join(work, 'host'),
        subscribeShows: ['demo'],
      },
    ),
    { logger: quiet },
  );
  console.log(`  service ${service.address}, Cuebot ${cuebot.address}, virtual host ${HOST}\n`);

  let command: string;
  if (blender) {
    const blend = path.join(work, 'scene.blend');
    await buildBlenderScene(blend, { resolution: 96, samples: 8, frames: FRAMES });
    command = `blender -b ${blend} -o ${outDir}/frame_#### -s #IFRAME# -e #IFRAME# -a`;
  } else {
    command = `${process.execPath} ${path.join(__dirname, 'tiny-render.js')} #IFRAME# ${outDir}/frame_#ZFRAME#.png`;
  }
  const job = cuebot.launchJob({
    name: 'demo-sh010-render',
    show: 'demo',
    priority: 50,
    layers: [{ name: 'beauty', range: `1-${FRAMES}`, tags: ['general', 'burst'], command }],
  });

  const tty = process.stdout.isTTY === true;
  let code = 0;
  let last = '';
  const onVirtualHost = new Set<string>(); // Cuebot forgets a frame's host once it is done
  for (;;) {
    const frames = cuebot.getFrames(job.id);
    for (const f of frames) if (cuebot.hostOf(f.id) === HOST) onVirtualHost.add(f.id);
    const done = frames.filter((f) => f.state === 'SUCCEEDED');
    const cloud = done.filter((f) => onVirtualHost.has(f.id)).length;
    const line = `  ${String(Math.round((Date.now() - started) / 1000)).padStart(3)} s  succeeded ${done.length}/${frames.length}  (virtual host ${cloud}, local ${done.length - cloud})  running ${frames.filter((f) => f.state === 'RUNNING').length}`;
    if (line !== last) process.stdout.write(tty ? `\r${line}` : `${line}\n`);
    last = line;
    if (done.length === frames.length) {
      if (tty) process.stdout.write('\n');
      const pngs = fs.readdirSync(outDir).filter((f) => f.endsWith('.png'));
      console.log(
        `\nSummary\n  frames on local hosts        ${done.length - cloud}\n  frames on the virtual host   ${cloud}`,
      );
      console.log(
        `  wall time                    ${((Date.now() - started) / 1000).toFixed(0)} s\n  output folder                ${outDir}: ${pngs.length} PNG files`,
      );
      if (pngs.length !== FRAMES) code = 1;
      break;
    }
    if (Date.now() - started > 170_000) {
      console.error(`\nthe demo took too long\n${logLines.slice(-30).join('\n')}`);
      code = 1;
      break;
    }
    await sleep(250);
  }
  await host.close();
  for (const h of hosts) await h.close();
  await cuebot.close();
  await service.close();
  return code;
}
