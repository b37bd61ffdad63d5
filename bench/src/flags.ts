// Command-line flags of `npm run bench`, validated with zod at the edge so a
// typo fails loudly before any process is started or any load is sent.
import { DEFAULT_FEED_WINDOW } from '@matchmesh/sfu';
import { z } from 'zod';
import { scenarioNames } from './registry.ts';
import { lossPatterns } from './scenarios/longhaul-patterns.ts';

const csvInts = z
  .string()
  .regex(/^\d+(,\d+)*$/, 'expected a comma-separated list of positive integers')
  .transform((s) => s.split(',').map(Number))
  .refine((a) => a.every((n) => n > 0 && n <= 100_000), 'each value must be in 1..100000')
  .refine((a) => a.every((n, i) => i === 0 || n > a[i - 1]!), 'values must be strictly increasing');

export const FlagsSchema = z
  .object({
    scenarios: z
      .string()
      .default('all')
      .transform((s) => (s === 'all' ? [...scenarioNames()] : s.split(',')))
      .pipe(z.array(z.enum(scenarioNames() as [string, ...string[]])).min(1)),
    /** Address every bench process binds to and sends to. Loopback only (see loopback.ts). */
    host: z.string().default('127.0.0.1'),
    /** Fan-out viewer steps; stops early at > 1 % loss or worker CPU saturation. */
    steps: csvInts.default([50, 100, 200, 400, 800, 1200, 1600, 2000]),
    /** Seconds each fan-out / latency step is measured after warm-up. */
    stepSeconds: z.coerce.number().min(1).max(300).default(8),
    /** Viewers on the relay while per-hop latency is measured. */
    latencyViewers: z.coerce.number().int().min(0).max(5000).default(500),
    /** The feed pacer's window in the latency scenario's paced passes (the node's MM_FEED_WINDOW default). */
    feedWindow: z.coerce.number().int().min(1).max(64).default(DEFAULT_FEED_WINDOW),
    /** Signaling joins in the join-storm scenario and the window they are spread over. */
    joins: z.coerce.number().int().min(1).max(20_000).default(1000),
    joinWindowSeconds: z.coerce.number().min(0.1).max(120).default(10),
    /** Commentary booth: languages mixed at once (one commentator each) and the measured window. */
    boothLanguages: z.coerce.number().int().min(1).max(4).default(2),
    boothSeconds: z.coerce.number().min(5).max(600).default(30),
    /** booth-browser: at least this many clicks on the booth page's microphone (mouth-to-ear samples). */
    boothClicks: z.coerce.number().int().min(3).max(500).default(20),
    /**
     * The origin's ladder in g2g-1080: the viewer is pinned on its top layer (1080p) then on the next
     * (the 720p baseline) with the quality menu, alternating.
     */
    hdLadder: z.string().min(1).default('1920x1080@30:4500,1280x720@30:2000'),
    /** Windows per layer in g2g-1080 (each --g2g-seconds long), alternating 1080p / 720p. */
    hdRounds: z.coerce.number().int().min(1).max(20).default(2),
    /** Browser samples for glass-to-glass / time-to-first-frame. */
    g2gSeconds: z.coerce.number().min(2).max(300).default(10),
    ttffJoins: z.coerce.number().int().min(1).max(200).default(8),
    /**
     * Another build of apps/web (a directory like apps/web/dist): ttff alternates fresh loads between it and
     * the node's own bundle, same node and minutes, and prints both's phases (a before/after of page code).
     */
    ttffBaselineDist: z.string().min(1).optional(),
    /** Repeats of each event (drain move, worker crash, origin reconnect, layer switch) in ttff-events. */
    ttffEventRepeats: z.coerce.number().int().min(1).max(50).default(3),
    /** The ttff scenario's parts: the phases of /watch loads, WHEP, LL-HLS, key frames on demand vs GOP only. */
    ttffParts: z
      .string()
      .default('phases,whep,hls,keyframes')
      .transform((s) => s.split(','))
      .pipe(z.array(z.enum(['phases', 'whep', 'hls', 'keyframes'])).min(1)),
    /** Rounds of each kind (short and long cut) per side (product / before) in the adapt scenario's A/B. */
    adaptRounds: z.coerce.number().int().min(1).max(20).default(2),
    /**
     * CPU load added for the adapt scenario: this many busy-loop processes spin while it runs (the e2e's
     * "3 busy loops"); stated in its table titles with the load average.
     */
    busyLoops: z.coerce.number().int().min(0).max(16).default(0),
    /** longhaul: loss patterns, comma-separated: 0, <pct>r (random) or <pct>b (bursty); see longhaul-patterns.ts. */
    longhaulPatterns: z
      .string()
      .min(1)
      .default('0,0.5r,0.5b,2r,2b,5r,5b')
      .superRefine((v, ctx) => {
        try {
          lossPatterns(v, {});
        } catch (e) {
          ctx.addIssue({ code: 'custom', message: (e as Error).message });
        }
      }),
    /** longhaul: the haul's round trip (ms), half each way. */
    longhaulRttMs: z.coerce.number().int().min(0).max(1000).default(200),
    /**
     * longhaul: MM_PIPE_RTX_MAX_AGE_MS of the upstream of the bounded pipe's relay ('auto' or ms); every
     * other pipe runs with 0 (mediasoup's retransmissions), so the run compares both.
     */
    longhaulRtxMaxAge: z
      .string()
      .default('auto')
      .refine((v) => v === 'auto' || /^[1-9]\d*$/.test(v), 'expected "auto" or a bound in ms (> 0)'),
    /** Viewers attached in the inter-region copies scenario. */
    copiesViewers: z.coerce.number().int().min(1).max(2000).default(30),
    /**
     * The origin's MM_LADDER in the browser scenarios (g2g, ttff): 'off' = one 1280x720 layer (the
     * figures before simulcast); a ladder measures its top layer, the page's window big enough for it.
     */
    ladder: z.string().min(1).default('off'),
    /**
     * Pin the relay worker to CPU 1 and the sink + bench to CPU 0 (taskset).
     * Off by default: on a machine shared with other jobs a pinned worker
     * cannot move off a busy core and starves; use it on a dedicated machine.
     */
    pin: z
      .union([z.boolean(), z.enum(['true', 'false'])])
      .default(false)
      .transform((v) => v === true || v === 'true'),
    /**
     * Profile the fan-out relay worker with `perf record` (Debian's linux-perf) during the step
     * nearest to --perf-viewers, for both send paths: folded stacks + flame graph SVG in --out.
     */
    perf: z
      .union([z.boolean(), z.enum(['true', 'false'])])
      .default(false)
      .transform((v) => v === true || v === 'true'),
    perfViewers: z.coerce.number().int().min(1).max(100_000).default(150),
    /** Also measure the 'naive' (router per viewer) fan-out baseline. */
    naive: z
      .union([z.boolean(), z.enum(['true', 'false'])])
      .default(true)
      .transform((v) => v === true || v === 'true'),
    out: z.string().default('bench/results'),
    /**
     * Copy each scenario's charts and profiles (SVG, folded stacks) into bench/kept/ (tracked, unlike
     * --out) with a summary of the run (command, date, load, tables): what the READMEs link.
     */
    keep: z
      .union([z.boolean(), z.enum(['true', 'false'])])
      .default(false)
      .transform((v) => v === true || v === 'true'),
    help: z.boolean().default(false),
  })
  .strict();

export type Flags = z.infer<typeof FlagsSchema>;

const camel = (s: string): string => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** Parses `--name=value`, `--name value` and bare `--flag` (boolean true). */
export function parseFlags(argv: readonly string[]): Flags {
  const raw: Record<string, unknown> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new Error(`unexpected argument "${arg}" (flags look like --name=value)`);
    const eq = arg.indexOf('=');
    if (eq > 0) {
      raw[camel(arg.slice(2, eq))] = arg.slice(eq + 1);
    } else {
      const next = argv[i + 1];
      if (next !== undefined && !next.startsWith('--')) {
        raw[camel(arg.slice(2))] = next;
        i++;
      } else raw[camel(arg.slice(2))] = true;
    }
  }
  const parsed = FlagsSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((iss) => `  --${iss.path.join('.') || '?'}: ${iss.message}`);
    throw new Error(`invalid flags:\n${lines.join('\n')}`);
  }
  return parsed.data;
}

export const USAGE = `npm run bench -- [--scenarios=all|${scenarioNames().join(',')}]
  [--host=127.0.0.1] [--steps=50,100,200,...] [--step-seconds=8] [--latency-viewers=500] [--feed-window=N]
  [--joins=1000] [--join-window-seconds=10] [--g2g-seconds=10] [--ttff-joins=8] [--booth-clicks=20]
  [--hd-ladder=1920x1080@30:4500,1280x720@30:2000] [--hd-rounds=2]
  [--ttff-baseline-dist=DIR] [--ttff-parts=phases,whep,hls,keyframes] [--ttff-event-repeats=3]
  [--longhaul-patterns=0,0.5r,0.5b,2r,2b,5r,5b] [--longhaul-rtt-ms=200] [--longhaul-rtx-max-age=auto|MS]
  [--copies-viewers=30] [--adapt-rounds=2] [--busy-loops=0] [--ladder=off|WxH@FPS:KBPS,...] [--pin=false|true] [--perf=false|true] [--perf-viewers=150]
  [--naive=true|false] [--out=bench/results] [--keep=false|true]
All load goes to loopback only; any other --host is refused.`;
