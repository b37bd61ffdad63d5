// `npm run bench`: parses flags, refuses non-loopback targets, runs the chosen
// scenarios one after another (they compete for the same 2 cores, so never in
// parallel), prints each table and writes bench/results/*.json; with --keep, also
// copies each scenario's charts and profiles into bench/kept/ (tracked).
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseFlags, USAGE } from './flags.ts';
import { keepScenario } from './keep.ts';
import { assertLoopback } from './loopback.ts';
import { loadScenario, type ScenarioResult } from './registry.ts';
import { machineInfo, writeResults } from './results.ts';
import { renderTable } from './table.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Tracked (unlike --out): what a --keep run leaves for the README to link. */
const KEEP_DIR = 'bench/kept';

async function main(): Promise<number> {
  let flags: ReturnType<typeof parseFlags>;
  try {
    flags = parseFlags(process.argv.slice(2));
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (flags.help) {
    console.log(USAGE);
    return 0;
  }
  let host: string;
  try {
    host = assertLoopback(flags.host);
  } catch (err) {
    console.error((err as Error).message);
    return 2;
  }
  const outDir = path.resolve(repoRoot, flags.out);
  const keepDir = path.resolve(repoRoot, KEEP_DIR);
  const startedAt = new Date().toISOString();
  const machine = machineInfo();
  const t0 = Date.now();
  console.log(`matchmesh bench — ${machine.nproc} cores, ${machine.cpuModel}, load ${fmtLoad(machine.loadAvgAtStart)}`);
  const results: Record<string, ScenarioResult> = {};
  let failed = 0;
  for (const name of flags.scenarios) {
    const scenario = await loadScenario(name);
    const st = Date.now();
    const scenarioStartedAt = new Date().toISOString();
    const loadAtStart = os.loadavg();
    const log = (msg: string) => console.log(`[${name} +${((Date.now() - st) / 1000).toFixed(1)}s] ${msg}`);
    log(scenario.description);
    try {
      const res = await scenario.run({ flags, host, outDir, log });
      results[name] = res;
      for (const t of res.tables) console.log(renderTable(t));
      if (flags.keep) {
        const kept = keepScenario(keepDir, res, {
          scenario: name,
          args: process.argv.slice(2),
          startedAt: scenarioStartedAt,
          endedAt: new Date().toISOString(),
          machine,
          loadAtStart,
          loadAtEnd: os.loadavg(),
        });
        log(`kept in ${path.relative(process.cwd(), keepDir)}: ${kept.join(', ')}`);
      }
    } catch (err) {
      // A broken scenario is reported and the next one still runs: a bench
      // reports what it could measure rather than nothing.
      failed++;
      console.error(`[${name}] failed: ${(err as Error).stack ?? err}`);
      results[name] = { tables: [], data: { error: String((err as Error).message ?? err) } };
    }
    log(`done in ${((Date.now() - st) / 1000).toFixed(1)} s`);
  }
  machine.loadAvgAtEnd = os.loadavg();
  const file = writeResults(outDir, { startedAt, flags, machine, results });
  console.log(
    `\nresults: ${path.relative(process.cwd(), file)} (total ${((Date.now() - t0) / 1000).toFixed(0)} s, load at end ${fmtLoad(machine.loadAvgAtEnd)})`,
  );
  return failed === 0 ? 0 : 1;
}

function fmtLoad(l: number[]): string {
  return l.map((x) => x.toFixed(2)).join(' ');
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
