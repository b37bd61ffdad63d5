import type { ChildProcess } from 'node:child_process';

export interface ChildSpec {
  entry: string;
  env: Record<string, string | undefined>;
  onStart?: (child: ChildProcess, start: number) => void;
  output?: 'inherit' | 'pipe';
}

export interface SupervisorOptions {
  log?: (line: string) => void;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  stableAfterMs?: number;
  loopCount?: number;
  loopWindowMs?: number;
  loopPauseMs?: number;
}

export class Supervisor {
  constructor(options?: SupervisorOptions);
  add(name: string, spec: ChildSpec): void;
  child(name: string): ChildProcess | undefined;
  stop(graceMs?: number): Promise<void>;
}
