import { NodesResponse, type RegionScaleAdvice, ScaleAdviceResponse } from '@matchmesh/protocol';
import { type TestNode, token } from './node.ts';

/** One thing the autoscaler saw or did, for the run's timeline. */
export type ScaleEvent = {
  /** ms since the autoscaler started. */
  at: number;
  relays: number;
  viewers: number;
  needed: number;
  action: string;
};

export interface AutoscalerOptions {
  /** Any node's URL: the admin API (scale-advice, nodes, drain) answers on every node. */
  apiUrl: string;
  region: string;
  headroom: number;
  /** Starts relay number `n` of the region (a real node process). */
  startRelay(n: number): Promise<TestNode>;
  /** Relays kept whatever the audience (KEDA's minReplicaCount). Default 1. */
  minRelays?: number;
  /**
   * Scale down only once every advice for this long said fewer (the HPA's scale-down stabilisation window,
   * 300 s in infra/k8s/autoscaling.yaml): heartbeats are sampled at different moments, so a viewer in the
   * middle of a move can be missing from the sum for a moment. Default 3000 ms.
   */
  downStableMs?: number;
  intervalMs?: number;
}

/**
 * What a Kubernetes autoscaler on `mm_scale_needed_relays` does, as a test
 * loop over real processes: it reads `GET /api/v1/scale-advice`, starts one
 * relay when the region needs more, and when it needs fewer drains the relay
 * with the fewest viewers (the newest on a tie) once the lower figure has held
 * for a stabilisation window,
 * waits until the registry shows it empty (its viewers moved make-before-break),
 * then stops the process — the preStop hook's job. One action at a time, and
 * only once the registry agrees with what it runs (a started relay has
 * registered, a stopped one has left), like a scaler's stabilisation.
 */
export class TestAutoscaler {
  readonly relays = new Map<string, TestNode>();
  readonly timeline: ScaleEvent[] = [];
  readonly #o: AutoscalerOptions;
  readonly #started = Date.now();
  #started_relays = 0;
  #timer: NodeJS.Timeout | undefined;
  #busy: Promise<void> | null = null;
  #last: RegionScaleAdvice | null = null;
  /** Since when every advice has asked for fewer relays than run (null: it does not now). */
  #lowSince: number | null = null;
  #error: unknown = null;
  #waiters: { check: (a: RegionScaleAdvice) => boolean; resolve: () => void }[] = [];

  constructor(options: AutoscalerOptions) {
    this.#o = options;
  }

  start(): void {
    this.#timer = setInterval(() => {
      if (!this.#busy) this.#busy = this.#step().finally(() => (this.#busy = null));
    }, this.#o.intervalMs ?? 300);
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#busy;
  }

  /** Resolves once the advice says the region has what it needs with `relays` serving (and nothing draining). */
  settledAt(relays: number, timeoutMs = 60_000): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`autoscaler not settled at ${relays} relays: ${JSON.stringify(this.#last)}`)),
        timeoutMs,
      );
      this.#waiters.push({
        check: (a) =>
          a.relays === relays && this.#target(a) === relays && a.draining === 0 && this.relays.size === relays,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  /** A failure inside the loop (a relay that would not start...), rethrown to the test. */
  get error(): unknown {
    return this.#error;
  }

  async #admin<T>(path: string, parse: (v: unknown) => T, body?: unknown): Promise<T> {
    const res = await fetch(`${this.#o.apiUrl}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: {
        Authorization: `Bearer ${await token('admin', '*')}`,
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
    return parse(await res.json());
  }

  #advice(): Promise<RegionScaleAdvice> {
    const { region, headroom } = this.#o;
    return this.#admin(`/api/v1/scale-advice?headroom=${headroom}&region=${region}`, (v) => {
      const found = ScaleAdviceResponse.parse(v).regions.find((r) => r.region === region);
      if (!found) throw new Error(`no advice for ${region}`);
      return found;
    });
  }

  #note(a: RegionScaleAdvice, action: string): void {
    this.timeline.push({
      at: Date.now() - this.#started,
      relays: a.relays,
      viewers: a.viewers,
      needed: a.needed,
      action,
    });
  }

  /** Relays to run: the advice's figure, never below the minimum. */
  #target(a: RegionScaleAdvice): number {
    return Math.max(this.#o.minRelays ?? 1, a.needed);
  }

  async #step(): Promise<void> {
    try {
      const a = await this.#advice();
      const changed = this.#last?.relays !== a.relays || this.#last?.viewers !== a.viewers;
      this.#last = a;
      // Act only on a registry that agrees with the processes we run.
      const agrees = a.relays === this.relays.size && a.draining === 0;
      const change = this.#target(a) - a.relays;
      this.#lowSince = change < 0 ? (this.#lowSince ?? Date.now()) : null;
      const lowLongEnough = this.#lowSince !== null && Date.now() - this.#lowSince >= (this.#o.downStableMs ?? 3000);
      if (agrees && change > 0) {
        const n = ++this.#started_relays;
        this.#note(a, `start relay ${n}`);
        const relay = await this.#o.startRelay(n);
        this.relays.set(relay.nodeId, relay);
      } else if (agrees && change < 0 && lowLongEnough) {
        await this.#drainOne(a);
        this.#lowSince = null;
      } else if (changed) {
        this.#note(a, '');
      }
      for (const w of [...this.#waiters]) {
        if (!w.check(a)) continue;
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        w.resolve();
      }
    } catch (err) {
      this.#error ??= err;
    }
  }

  /** Scale-down of one relay: drain (viewers move), wait for empty, stop, wait until it left the registry. */
  async #drainOne(a: RegionScaleAdvice): Promise<void> {
    const nodes = await this.#admin('/api/v1/nodes', (v) => NodesResponse.parse(v).nodes);
    const mine = nodes.filter((n) => this.relays.has(n.id) && !n.draining);
    mine.sort((x, y) => x.load.viewers - y.load.viewers || y.startedAt - x.startedAt);
    const victim = mine[0];
    if (!victim) return;
    this.#note(a, `drain ${victim.id} (${victim.load.viewers} viewers)`);
    await this.#admin(`/api/v1/nodes/${encodeURIComponent(victim.id)}/drain`, (v) => v, { draining: true });
    for (;;) {
      const record = (await this.#admin('/api/v1/nodes', (v) => NodesResponse.parse(v).nodes)).find(
        (n) => n.id === victim.id,
      );
      if (!record || (record.draining && record.load.viewers === 0)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    await this.relays.get(victim.id)!.stop();
    this.relays.delete(victim.id);
    this.#note({ ...a, relays: a.relays - 1 }, `stopped ${victim.id}`);
    for (;;) {
      const nodes = await this.#admin('/api/v1/nodes', (v) => NodesResponse.parse(v).nodes);
      if (!nodes.some((n) => n.id === victim.id)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
