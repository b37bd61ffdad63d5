// `perf record` of one process during one bench step (Debian's linux-perf,
// installed by scripts/setup.mjs), turned into folded stacks + a flame graph.
//
// The worker is a release build without frame pointers, so stacks are unwound
// from DWARF CFI (`--call-graph dwarf`): the production binary stays as is.
// cpu-clock (a software event) works in VMs without a hardware PMU.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { flameSvg, foldedText, foldPerfScript, inclusivePct, type SelfRow, selfTop } from '../flame.ts';

/** Sampling rate: low enough that DWARF stack copies do not perturb a 2-core machine much. */
const FREQ = 499;

export interface PerfSummary {
  label: string;
  samples: number;
  top: SelfRow[];
  /** Inclusive shares of a few paths the send batching is about. */
  inclusive: Record<string, number>;
  folded: string;
  svg: string;
}

export class PerfRecord {
  readonly #child: ChildProcess;
  readonly #dataFile: string;
  readonly #exited: Promise<unknown>;
  #stderr = '';

  private constructor(child: ChildProcess, dataFile: string) {
    this.#child = child;
    this.#dataFile = dataFile;
    this.#exited = once(child, 'exit');
    child.stderr?.on('data', (d: Buffer) => {
      this.#stderr = (this.#stderr + d.toString()).slice(-2000);
    });
  }

  /** Starts sampling `pid`; null when perf is missing or refuses (the bench then runs without a profile). */
  static async start(pid: number, dataFile: string): Promise<PerfRecord | null> {
    const args = ['record', '-q', '-e', 'cpu-clock', '-F', String(FREQ), '--call-graph', 'dwarf,16384'];
    const child = spawn('perf', [...args, '-p', String(pid), '-o', dataFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    const failed = await Promise.race([
      once(child, 'error').then(() => true),
      once(child, 'exit').then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), 300)),
    ]);
    return failed ? null : new PerfRecord(child, dataFile);
  }

  /** Stops sampling (SIGINT lets perf write its file) and folds the stacks. */
  async stop(label: string, title: string, outBase: string): Promise<PerfSummary> {
    this.#child.kill('SIGINT');
    await this.#exited;
    const script = spawn('perf', ['script', '-i', this.#dataFile, '-F', 'comm,ip,sym,dso'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const chunks: Buffer[] = [];
    script.stdout.on('data', (d: Buffer) => chunks.push(d));
    const [code] = (await once(script, 'exit')) as [number | null];
    if (code !== 0) throw new Error(`perf script failed (exit ${code}); perf record said: ${this.#stderr.trim()}`);
    const folded = foldPerfScript(Buffer.concat(chunks).toString('utf8'));
    const { total, rows } = selfTop(folded, 20);
    const summary: PerfSummary = {
      label,
      samples: total,
      top: rows,
      inclusive: {
        'kernel send syscalls (sendmsg/sendmmsg)': inclusivePct(folded, /^__sys_(sendto|sendmsg|sendmmsg)_\[k\]$/),
        'SRTP protect': inclusivePct(folded, /srtp_protect/),
        'UdpSocketHandle send/flush': inclusivePct(folded, /^UdpSocketHandle::/),
        'libuv poll (epoll_wait)': inclusivePct(folded, /epoll_wait/),
        'loopback delivery to the sink (net_rx softirq)': inclusivePct(
          folded,
          /^(net_rx_action|__netif_receive_skb)_\[k\]$/,
        ),
        kernel: inclusivePct(folded, /_\[k\]$/),
      },
      folded: `${outBase}.folded`,
      svg: `${outBase}.svg`,
    };
    writeFileSync(summary.folded, foldedText(folded));
    writeFileSync(summary.svg, flameSvg(folded, `${title} — ${total} samples at ${FREQ} Hz (cpu-clock)`));
    return summary;
  }
}
