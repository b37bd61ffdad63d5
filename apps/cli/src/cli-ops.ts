import type { OpsEvent, OpsSnapshot } from '@matchmesh/protocol';
import { type AdminClient, ApiError } from './api.ts';
import type { OpsCommand } from './args-ops.ts';
import { completionScript } from './completion.ts';
import {
  formatBooth,
  formatClusterPipes,
  formatEvent,
  formatEvents,
  formatPipes,
  formatProgram,
  formatTop,
} from './format-ops.ts';

export interface OpsIo {
  stdout: (text: string) => void;
  /** Ends `events --follow` and the live `top` (Ctrl-C). */
  signal?: AbortSignal;
}

/** How many points `top` keeps per node for its bitrate trend (one per ~2 s snapshot). */
const TREND_POINTS = 30;
/** ANSI: clear the screen, cursor home (a live `top` redraws in place). */
const CLEAR = '\x1b[2J\x1b[H';

/** Run one ops command (the admin client is made only for those that talk to a node). */
export async function executeOps(command: OpsCommand, io: OpsIo, client: () => Promise<AdminClient>): Promise<void> {
  const json = (raw: unknown) => io.stdout(`${JSON.stringify(raw, null, 2)}\n`);
  switch (command.kind) {
    case 'completion':
      io.stdout(completionScript(command.shell));
      return;
    case 'program': {
      const res = await (await client()).program(command.stream);
      return command.json ? json(res.raw) : io.stdout(`${formatProgram(res.value)}\n`);
    }
    case 'booth': {
      const res = await (await client()).booth(command.stream);
      return command.json ? json(res.raw) : io.stdout(`${formatBooth(res.value)}\n`);
    }
    case 'pipes': {
      if (command.cluster) {
        const res = await (await client()).clusterPipes();
        return command.json ? json(res.raw) : io.stdout(`${formatClusterPipes(res.value)}\n`);
      }
      const res = await (await client()).pipes();
      return command.json ? json(res.raw) : io.stdout(`${formatPipes(res.value.nodeId, res.value.pipes)}\n`);
    }
    case 'publishers-drop': {
      const res = await (await client()).dropPublishers(command.stream);
      return command.json
        ? json(res.raw)
        : io.stdout(`dropped ${res.value.dropped} publishing session(s) of ${res.value.stream}\n`);
    }
    case 'events':
      return events(command, io, await client());
    case 'top':
      return top(command, io, await client());
  }
}

/** The recent events; with --follow, then each new one as it comes (--json: one JSON object a line). */
async function events(command: Extract<OpsCommand, { kind: 'events' }>, io: OpsIo, api: AdminClient): Promise<void> {
  if (!command.follow) {
    const res = await api.events(command.limit);
    io.stdout(command.json ? `${JSON.stringify(res.raw, null, 2)}\n` : `${formatEvents(res.value.events)}\n`);
    return;
  }
  const print = (e: OpsEvent) => io.stdout(command.json ? `${JSON.stringify(e)}\n` : `${formatEvent(e)}\n`);
  // The stream opens with the last 50 events; --limit trims them, then every new one follows.
  const opening = (await api.events(command.limit)).value.events;
  opening.forEach(print);
  let last = opening.at(-1)?.id;
  const stop = new AbortController();
  io.signal?.addEventListener('abort', () => stop.abort(), { once: true });
  for await (const m of api.live(stop.signal)) {
    if (m.type === 'end') throw ended(m.reason);
    if (m.type !== 'event' || (last && !newer(m.event.id, last))) continue;
    last = m.event.id;
    print(m.event);
  }
}

/** `top --once`: one frame from the plain routes; `top`: redrawn on every snapshot of the live stream. */
async function top(command: Extract<OpsCommand, { kind: 'top' }>, io: OpsIo, api: AdminClient): Promise<void> {
  if (command.once) {
    const [nodes, streams, pipes, recent, cost, reports] = await Promise.all([
      api.nodes(),
      api.streams(),
      api.pipes(),
      api.events(10),
      api.costIfAny(),
      api.reportsIfAny(),
    ]);
    const snapshot: OpsSnapshot = {
      at: Date.now(),
      nodeId: pipes.value.nodeId,
      nodes: nodes.value,
      streams: streams.value,
      pipes: pipes.value.pipes,
      cost,
      reports: reports?.reports ?? null,
    };
    const events = recent.value.events;
    io.stdout(command.json ? `${JSON.stringify({ snapshot, events }, null, 2)}\n` : `${formatTop(snapshot, events)}\n`);
    return;
  }
  const stop = new AbortController();
  io.signal?.addEventListener('abort', () => stop.abort(), { once: true });
  let events: OpsEvent[] = [];
  let history = new Map<string, number[]>();
  for await (const m of api.live(stop.signal)) {
    if (m.type === 'end') throw ended(m.reason);
    if (m.type === 'event') {
      events = [...events, m.event].slice(-50);
      continue;
    }
    const next = new Map<string, number[]>();
    for (const n of m.snapshot.nodes)
      next.set(n.id, [...(history.get(n.id) ?? []), n.load.bitrateOut].slice(-TREND_POINTS));
    history = next;
    io.stdout(`${CLEAR}${formatTop(m.snapshot, events, history)}\n`);
  }
}

/** The node ended the live stream: an expired token is a refusal (exit 3), a closing node unavailable (exit 5). */
function ended(reason: string): ApiError {
  return new ApiError(`the node ended the stream: ${reason}`, reason === 'token expired' ? 401 : 503);
}

/** Redis stream ids (`<ms>-<seq>`) in order. */
function newer(a: string, b: string): boolean {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am > bm || (am === bm && as > bs);
}
