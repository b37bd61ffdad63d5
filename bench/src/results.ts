// Writes one JSON file per run into bench/results/ (git-ignored): the flags,
// the machine, and every scenario's tables and raw figures, so a README number
// can be traced back to the run that produced it.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ScenarioResult } from './registry.ts';

export interface MachineInfo {
  nproc: number;
  cpuModel: string;
  totalMemMiB: number;
  loadAvgAtStart: number[];
  loadAvgAtEnd?: number[];
  node: string;
}

export function machineInfo(): MachineInfo {
  return {
    nproc: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    totalMemMiB: Math.round(os.totalmem() / 1048576),
    loadAvgAtStart: os.loadavg(),
    node: process.version,
  };
}

export function writeResults(
  outDir: string,
  payload: {
    startedAt: string;
    flags: unknown;
    machine: MachineInfo;
    results: Record<string, ScenarioResult>;
  },
): string {
  mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `bench-${payload.startedAt.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(payload, null, 2)}\n`);
  writeFileSync(path.join(outDir, 'latest.json'), `${JSON.stringify(payload, null, 2)}\n`);
  return file;
}
