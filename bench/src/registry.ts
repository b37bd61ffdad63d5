// Scenario registry: each scenario is a module with a name and a run()
// returning tables (printed) and raw data (written to JSON). Scenarios report;
// they never assert timings.
import type { Flags } from './flags.ts';
import type { Table } from './table.ts';

export interface ScenarioContext {
  flags: Flags;
  host: string;
  outDir: string;
  log: (msg: string) => void;
}

export interface ScenarioResult {
  tables: Table[];
  data: Record<string, unknown>;
  /** Extra files written (charts), relative to the repo root. */
  files?: string[];
}

export interface Scenario {
  name: string;
  description: string;
  run(ctx: ScenarioContext): Promise<ScenarioResult>;
}

const NAMES = [
  'fanout',
  'workers',
  'latency',
  'g2g',
  'ttff',
  'ttff-events',
  'joinstorm',
  'copies',
  'splicer',
  'origin',
  'longhaul',
  'simulcast',
  'adapt',
  'booth',
  'booth-browser',
  'g2g-1080',
  'whep-delay',
] as const;
export type ScenarioName = (typeof NAMES)[number];

export function scenarioNames(): readonly string[] {
  return NAMES;
}

/** Lazily imported so `--scenarios=fanout` does not load Chromium helpers etc. */
export async function loadScenario(name: string): Promise<Scenario> {
  switch (name as ScenarioName) {
    case 'fanout':
      return (await import('./scenarios/fanout.ts')).fanout;
    case 'workers':
      return (await import('./scenarios/workers.ts')).workers;
    case 'booth':
      return (await import('./scenarios/booth.ts')).booth;
    case 'whep-delay':
      return (await import('./scenarios/whep-delay.ts')).whepDelay;
    case 'booth-browser':
      return (await import('./scenarios/booth-browser.ts')).boothBrowser;
    case 'g2g-1080':
      return (await import('./scenarios/g2g-1080.ts')).g2g1080;
    case 'adapt':
      return (await import('./scenarios/adapt.ts')).adapt;
    case 'simulcast':
      return (await import('./scenarios/simulcast.ts')).simulcast;
    case 'latency':
      return (await import('./scenarios/latency.ts')).latency;
    case 'g2g':
      return (await import('./scenarios/browser.ts')).g2g;
    case 'ttff':
      return (await import('./scenarios/browser.ts')).ttff;
    case 'ttff-events':
      return (await import('./scenarios/ttff-events.ts')).ttffEvents;
    case 'joinstorm':
      return (await import('./scenarios/joinstorm.ts')).joinstorm;
    case 'copies':
      return (await import('./scenarios/copies.ts')).copies;
    case 'splicer':
      return (await import('./scenarios/splicer.ts')).splicer;
    case 'origin':
      return (await import('./scenarios/origin.ts')).origin;
    case 'longhaul':
      return (await import('./scenarios/longhaul.ts')).longhaul;
  }
  throw new Error(`unknown scenario ${name}`);
}
