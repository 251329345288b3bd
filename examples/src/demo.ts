// `npm start`: a Deadline farm that is too small for one of its jobs bursts into "Azure".
//
// Everything runs on this machine with no Azure account: the Spillway service on the
// embedded default (local engine + Azurite, started by the service), a fake Deadline Web
// Service with 2 local workers, and the Deadline bridge. Two jobs arrive: an animation due
// in 20 seconds, which the farm cannot finish in time, and a comp due in an hour, which it
// can. The burst policy decides: it offloads part of the animation (about as many frames as
// the farm would finish late) and none of the comp; each change of its plan is printed with
// its reason. The cloud renders the offloaded frames, and their outputs land in the job's
// output folder, verified, before Deadline marks them done.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeadlineBridge, resolveConfig } from '@spillway/bridge-deadline';
import { FakeDeadline, hasBlender, makeBlenderScene } from '@spillway/bridge-deadline/testing';
import { BurstClient, createLogger, sleep } from '@spillway/sdk';
import { loadConfig } from '@spillway/sdk/config';
import { embeddedProviders, startService } from '@spillway/sdk/service';
import { followPlans } from './plan-lines';

const FRAMES = Number(process.env.DEMO_FRAMES ?? 24);
/** The animation is due this long after submission: less than the farm needs alone. */
const DEADLINE_SECONDS = Number(process.env.DEMO_DEADLINE_SECONDS ?? 20);
/** The comp (6 frames) is due in an hour: the farm finishes it in time, nothing leaves. */
const COMP_FRAMES = 6;
const LOCAL_WORKERS = 2;
const CLOUD_NODES = 3;
/** Spot price used for the cost estimate (Standard_D16as_v5-class spot, per node-hour). */
const SPOT_PER_HOUR = 0.14;

async function main(): Promise<void> {
  const started = Date.now();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-demo-'));
  const farm = path.join(work, 'farm'); // what the farm's Z:\ is on this machine
  const outDir = path.join(farm, 'renders');
  fs.mkdirSync(outDir, { recursive: true });
  const blender = hasBlender();
  const logLines: string[] = [];
  const logger = createLogger({ level: 'info', write: (l) => logLines.push(l) });

  console.log(
    'Spillway demo: a 2-worker Deadline farm; the burst policy sends part of a late animation to the local "cloud".',
  );
  console.log(
    `  renderer: ${blender ? 'Blender (found on PATH)' : 'built-in PNG renderer (Blender not installed)'}`,
  );

  // The service, on the embedded default.
  const config = loadConfig({
    env: {},
    overrides: {
      listen: '127.0.0.1:0',
      dataDir: path.join(work, 'spillway'),
      'compute.local.nodes': CLOUD_NODES,
      // The embedded engine's round trip per frame (assets in, outputs back through Azurite)
      // is about a second, not a real cloud's 10; the service learns it after 3 frames anyway.
      'burst.groupDefaults.transferSecondsPerFrame': 1,
    },
  });
  const service = await startService(
    config,
    embeddedProviders(config),
    createLogger({ level: 'warn', write: (l) => logLines.push(l) }),
  );
  console.log(`  service:  ${service.address} (local engine, ${CLOUD_NODES} cloud nodes, Azurite)`);

  // The farm.
  const rules = [{ from: 'Z:\\', to: farm }];
  const deadline = await FakeDeadline.start({
    workers: Array.from({ length: LOCAL_WORKERS }, (_, i) => ({ name: `render-0${i + 1}` })),
    pathRules: rules,
  });
  console.log(`  farm:     fake Deadline Web Service ${deadline.url}, ${LOCAL_WORKERS} workers`);

  let jobId: string;
  if (blender) {
    await makeBlenderScene(path.join(farm, 'shot.blend'), { frames: FRAMES, resolution: 96, samples: 8 });
    jobId = deadline.submitJob(
      {
        Plugin: 'Blender',
        Name: 'shot010_lighting',
        Frames: `1-${FRAMES}`,
        ChunkSize: 1,
        Priority: 60,
        OutputDirectory0: 'Z:\\renders',
        OutputFilename0: 'frame_####.png',
        ExtraInfoKeyValue0: `SpillwayDeadline=${new Date(Date.now() + DEADLINE_SECONDS * 1000).toISOString()}`,
      },
      { SceneFile: 'Z:\\shot.blend', OutputFile: 'Z:\\renders\\frame_####' },
    );
  } else {
    const renderer = path.join(__dirname, 'tiny-render.js');
    jobId = deadline.submitJob(
      {
        Plugin: 'CommandLine',
        Name: 'shot010_lighting',
        Frames: `1-${FRAMES}`,
        ChunkSize: 1,
        Priority: 60,
        OutputDirectory0: 'Z:\\renders',
        OutputFilename0: 'frame_####.png',
        ExtraInfoKeyValue0: `SpillwayDeadline=${new Date(Date.now() + DEADLINE_SECONDS * 1000).toISOString()}`,
      },
      {
        Executable: process.execPath,
        Arguments: `${renderer} <STARTFRAME> Z:\\renders\\frame_<STARTFRAME%4>.png`,
      },
    );
  }
  const jobDue = new Date(Date.now() + DEADLINE_SECONDS * 1000);
  const compDue = new Date(Date.now() + 3_600_000);
  const compId = deadline.submitJob(
    {
      Plugin: 'CommandLine',
      Name: 'shot020_comp',
      Frames: `1-${COMP_FRAMES}`,
      ChunkSize: 1,
      Priority: 40,
      OutputDirectory0: 'Z:\\comp',
      OutputFilename0: 'comp_####.png',
      ExtraInfoKeyValue0: `SpillwayDeadline=${compDue.toISOString()}`,
    },
    {
      Executable: process.execPath,
      Arguments: `${path.join(__dirname, 'tiny-render.js')} <STARTFRAME> Z:\\comp\\comp_<STARTFRAME%4>.png`,
    },
  );
  fs.mkdirSync(path.join(farm, 'comp'), { recursive: true });
  console.log(
    `  job:      shot010_lighting, ${FRAMES} frames, due in ${DEADLINE_SECONDS} s, output ${outDir}`,
  );
  console.log(`  job:      shot020_comp, ${COMP_FRAMES} frames, due in an hour\n`);

  const bridge = await DeadlineBridge.start(
    resolveConfig({
      webservice: deadline.url,
      service: service.address,
      name: 'demo',
      stateDir: path.join(work, 'bridge'),
      pollIntervalMs: 1000,
      pathRules: rules,
    }),
    { logger },
  );

  const client = new BurstClient(service.address);
  const tty = process.stdout.isTTY === true;
  let progressShown = false;
  const stopPlans = new AbortController();
  const plans = followPlans(
    client,
    'deadline:demo',
    (line) => {
      // A plan line goes above the progress line.
      process.stdout.write(tty && progressShown ? `\r\x1b[K${line}\n` : `${line}\n`);
      progressShown = false;
    },
    stopPlans.signal,
  );
  const cloudSeconds = async (): Promise<{ done: number; running: number; seconds: number }> => {
    let done = 0;
    let running = 0;
    let seconds = 0;
    for await (const job of client.listJobs({ source: 'deadline:demo' })) {
      done += job.counts.succeeded;
      running += job.counts.running;
      for await (const f of client.listFrames(job.jobId)) {
        if (f.startedAt && f.finishedAt) seconds += (f.finishedAt.getTime() - f.startedAt.getTime()) / 1000;
      }
    }
    return { done, running, seconds };
  };

  let last = '';
  for (;;) {
    const s = deadline.summary(jobId);
    const comp = deadline.summary(compId);
    const cloud = await cloudSeconds();
    const cost = (cloud.seconds / 3600) * SPOT_PER_HOUR;
    const line =
      `  ${Math.round((Date.now() - started) / 1000)
        .toString()
        .padStart(3)} s  local ${String(s.completedLocally).padStart(2)} done  ` +
      `cloud ${String(cloud.done).padStart(2)} done ${cloud.running} running  ` +
      `queued ${s.queued}  in cloud ${s.suspended}  of ${s.total}  comp ${comp.completed}/${comp.total}  est. cost $${cost.toFixed(4)}`;
    if (line !== last) {
      process.stdout.write(tty ? `\r\x1b[K${line}` : `${line}\n`);
      progressShown = true;
    }
    last = line;
    if (s.completed === s.total && comp.completed === comp.total) break;
    if (Date.now() - started > 170_000) throw new Error('the demo took too long; see the log above');
    await sleep(1000);
  }
  if (tty) process.stdout.write('\n');
  stopPlans.abort();
  await plans;

  const s = deadline.summary(jobId);
  const cloud = await cloudSeconds();
  const local = deadline.renders.filter((r) => r.jobId === jobId && r.exitCode === 0);
  const localFrameSeconds =
    local.reduce((sum, r) => sum + (r.finishedAt.getTime() - r.startedAt.getTime()) / 1000, 0) /
    Math.max(1, local.length);
  const elapsed = (Date.now() - started) / 1000;
  const withoutBurst = (FRAMES * localFrameSeconds) / LOCAL_WORKERS;
  const pngs = fs.readdirSync(outDir).filter((f) => f.endsWith('.png'));

  /** When Deadline marked the job complete (its `DateComp`), read through the Web Service. */
  const doneAt = async (id: string): Promise<Date | undefined> => {
    const res = await fetch(`${deadline.url}/api/jobs?JobID=${encodeURIComponent(id)}`);
    const [raw] = (await res.json()) as { DateComp?: string }[];
    const at = raw?.DateComp ? new Date(raw.DateComp) : undefined;
    return at && at.getFullYear() > 1 ? at : undefined;
  };
  const misses: string[] = [];
  const met = async (id: string, due: Date, name: string): Promise<string> => {
    const at = await doneAt(id);
    if (!at) return 'unknown';
    const late = (at.getTime() - due.getTime()) / 1000;
    if (late > 0) misses.push(`${name} finished ${late.toFixed(0)} s after its deadline`);
    return `${late <= 0 ? 'met' : 'MISSED'} (done ${Math.abs(late).toFixed(0)} s ${late <= 0 ? 'before' : 'after'} it)`;
  };
  const comp = deadline.summary(compId);
  console.log('\nSummary');
  console.log(`  animation deadline           ${await met(jobId, jobDue, 'shot010_lighting')}`);
  console.log(
    `  comp                         ${comp.completedLocally} of ${comp.total} frames rendered locally; deadline ${await met(compId, compDue, 'shot020_comp')}`,
  );
  console.log(`  frames rendered locally      ${s.completedLocally}`);
  console.log(
    `  frames rendered in the cloud ${s.total - s.completedLocally} (outputs verified, then marked done in Deadline)`,
  );
  console.log(`  wall time with burst         ${elapsed.toFixed(0)} s (including start-up)`);
  console.log(
    `  local-only estimate          ${withoutBurst.toFixed(0)} s (${FRAMES} frames x ${localFrameSeconds.toFixed(1)} s / ${LOCAL_WORKERS} workers)`,
  );
  console.log(
    `  estimated Azure cost         $${((cloud.seconds / 3600) * SPOT_PER_HOUR).toFixed(4)} (${cloud.seconds.toFixed(0)} node-seconds at $${SPOT_PER_HOUR}/spot node-hour)`,
  );
  console.log(`  output folder                ${outDir}: ${pngs.length} PNG files`);
  console.log(
    `  bridge                       offloaded ${bridge.counters.offloaded}, completed ${bridge.counters.completed}, recalled ${bridge.counters.recalled}, sent back ${bridge.counters.failedBack}`,
  );

  client.close();
  await bridge.close();
  await deadline.close();
  await service.close();
  if (misses.length > 0) {
    // Said plainly, last, and in the exit code: a demo of a deadline policy that missed one.
    console.error(
      `\nDEADLINE MISSED: ${misses.join('; ')}. Local frames took ${localFrameSeconds.toFixed(1)} s here; ` +
        `the embedded "cloud" renders on this machine's cores too, so on a small machine a burst adds little ` +
        `capacity. For a later deadline: DEMO_DEADLINE_SECONDS=${DEADLINE_SECONDS * 2} npm start`,
    );
    process.exitCode = 1;
  } else console.log('\nEvery deadline met.');
  if (pngs.length !== FRAMES) {
    console.error(`\nexpected ${FRAMES} PNG files, found ${pngs.length}\n${logLines.slice(-30).join('\n')}`);
    process.exitCode = 1;
  }
}

const farmArg = process.argv.indexOf('--farm');
const farmKind = farmArg >= 0 ? process.argv[farmArg + 1] : 'deadline';
const run =
  farmKind === 'opencue'
    ? () =>
        (require('./demo-opencue') as typeof import('./demo-opencue')).runOpenCueDemo().then((code) => {
          process.exitCode = code;
        })
    : farmKind === 'deadline'
      ? main
      : () =>
          Promise.reject(
            new Error(`--farm: expected "deadline" or "opencue", got ${JSON.stringify(farmKind)}`),
          );

run().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
