// CPU load for a scenario that measures behaviour under load: `count` node
// processes spinning on a busy loop (each wants a whole core), like the e2e
// runs "under 3 busy loops". stop() kills exactly the processes started here.
import { type ChildProcess, spawn } from 'node:child_process';

export interface BusyLoops {
  count: number;
  stop(): void;
}

export function startBusyLoops(count: number): BusyLoops {
  const children: ChildProcess[] = [];
  for (let i = 0; i < count; i++) {
    children.push(spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
  }
  return {
    count,
    stop: () => {
      for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    },
  };
}
