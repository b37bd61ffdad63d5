// `--keep`: a run's charts and profiles are copied from bench/results/ (git-ignored,
// overwritten by the next run) into bench/kept/ (tracked), beside a summary of the
// run that made them — command, date, machine, load, and the tables printed — so
// a figure the README quotes can be seen, and traced to its run, from a clone.
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ScenarioResult } from './registry.ts';
import type { MachineInfo } from './results.ts';
import { renderTable } from './table.ts';

export interface KeptRun {
  scenario: string;
  /** The bench's arguments as given (`npm run bench -- <args>`). */
  args: readonly string[];
  startedAt: string;
  endedAt: string;
  machine: MachineInfo;
  loadAtStart: number[];
  loadAtEnd: number[];
}

const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');

/** Copies the scenario's files (paths relative to the working directory, as scenarios report them) into `keepDir`; writes `<scenario>.md`. */
export function keepScenario(keepDir: string, res: ScenarioResult, run: KeptRun): string[] {
  mkdirSync(keepDir, { recursive: true });
  const kept: string[] = [];
  for (const rel of res.files ?? []) {
    const dest = path.join(keepDir, path.basename(rel));
    copyFileSync(path.resolve(rel), dest);
    kept.push(path.basename(rel));
  }
  const summary = [
    `# bench run kept: \`${run.scenario}\``,
    '',
    'Written by `npm run bench -- --keep` (bench/src/keep.ts); the files below are copies of what the run',
    'wrote into bench/results/ (git-ignored). Figures come from the run, unedited.',
    '',
    `- command: \`npm run bench -- ${run.args.join(' ')}\``,
    `- scenario ran ${run.startedAt} → ${run.endedAt}`,
    `- machine: ${run.machine.nproc} cores (${run.machine.cpuModel}), ${run.machine.totalMemMiB} MiB, Node ${run.machine.node}`,
    `- load average (1/5/15 min) at the scenario's start: ${load(run.loadAtStart)}; at its end: ${load(run.loadAtEnd)}`,
    `- files: ${kept.map((f) => `[${f}](${f})`).join(', ') || 'none'}`,
    '',
    '```text',
    // A blank line between tables, as printed.
    res.tables.map((t) => renderTable(t).replace(/^\n/, '')).join('\n\n'),
    '```',
    '',
  ].join('\n');
  writeFileSync(path.join(keepDir, `${run.scenario}.md`), summary);
  return [...kept, `${run.scenario}.md`];
}
