// Parent side of the UDP sink: forks sink-main.ts, compiled to bench/dist by
// tsconfig.sink.json (no transpiler in the measured process), as its own
// process, optionally pinned to a CPU, and talks to it over IPC.
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { procCpuSeconds } from './cpu.ts';
import type { SinkReport, SinkRequest } from './sink-protocol.ts';

export class Sink {
  readonly child: ChildProcess;
  ports: number[] = [];
  recvBuffer = 0;

  readonly #exited: Promise<never>;

  private constructor(child: ChildProcess) {
    this.child = child;
    this.#exited = once(child, 'exit').then(() => {
      throw new Error('sink process exited');
    });
    this.#exited.catch(() => {});
  }

  static async start(sockets: number): Promise<Sink> {
    const entry = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/media/sink-main.js');
    const child = fork(entry, [], {
      execArgv: [],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const sink = new Sink(child);
    await sink.#next('started');
    const ready = (await sink.request({ type: 'listen', sockets })) as {
      ports: number[];
      recvBuffer: number;
    };
    sink.ports = ready.ports;
    sink.recvBuffer = ready.recvBuffer;
    return sink;
  }

  get pid(): number {
    return this.child.pid!;
  }

  cpuSeconds(): number {
    return procCpuSeconds(this.pid);
  }

  async #next(type?: string): Promise<Record<string, unknown>> {
    for (;;) {
      const [msg] = (await Promise.race([once(this.child, 'message'), this.#exited])) as [Record<string, unknown>];
      if (!type || msg.type === type) return msg;
    }
  }

  async request(req: SinkRequest): Promise<Record<string, unknown>> {
    const reply = this.#next();
    this.child.send(req);
    return reply;
  }

  async reset(): Promise<void> {
    await this.request({ type: 'reset' });
  }

  async report(): Promise<SinkReport> {
    return (await this.request({ type: 'report' })) as unknown as SinkReport;
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.disconnect();
    const t = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(t);
  }
}
