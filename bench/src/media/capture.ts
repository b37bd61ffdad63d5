// Byte counting on the loopback interface with tcpdump (BPF filter in the
// kernel, so only the ports we ask for reach user space). Used to measure
// what leaves a node process whose mediasoup objects we cannot reach.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

export interface Flow {
  srcPort: number;
  dstPort: number;
  packets: number;
  bytes: number;
}

export function tcpdumpAvailable(): boolean {
  return spawnSync('tcpdump', ['--version'], { stdio: 'ignore' }).status === 0;
}

export class LoopbackCapture {
  readonly #child: ChildProcess;
  readonly flows = new Map<string, Flow>();
  #counting = false;
  readonly #ready: Promise<void>;

  constructor(filter: string) {
    this.#child = spawn('tcpdump', ['-i', 'lo', '-nn', '-q', '-l', '-B', '16384', filter], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // tcpdump prints "listening on lo" on stderr once the filter is attached.
    this.#ready = new Promise((resolve, reject) => {
      this.#child.stderr!.on('data', (b: Buffer) => {
        if (b.toString().includes('listening on')) resolve();
      });
      this.#child.once('exit', (code) => reject(new Error(`tcpdump exited (${code})`)));
    });
    const rl = createInterface({ input: this.#child.stdout! });
    rl.on('line', (line) => this.#line(line));
  }

  ready(): Promise<void> {
    return this.#ready;
  }

  start(): void {
    this.flows.clear();
    this.#counting = true;
  }

  stop(): Flow[] {
    this.#counting = false;
    return [...this.flows.values()];
  }

  #line(line: string): void {
    if (!this.#counting) return;
    const m = / IP \S+?\.(\d+) > \S+?\.(\d+): UDP, length (\d+)/.exec(line);
    if (!m) return;
    const key = `${m[1]}>${m[2]}`;
    let f = this.flows.get(key);
    if (!f) {
      f = { srcPort: Number(m[1]), dstPort: Number(m[2]), packets: 0, bytes: 0 };
      this.flows.set(key, f);
    }
    f.packets++;
    f.bytes += Number(m[3]);
  }

  async close(): Promise<void> {
    if (this.#child.exitCode !== null) return;
    const exited = once(this.#child, 'exit');
    this.#child.kill('SIGTERM');
    await exited;
  }
}
