import { describe, expect, it } from 'vitest';
import type { HlsSession } from '../src/HlsSession.ts';
import { initialLadder, type LadderEvent, type LadderState } from '../src/ladder.ts';
import {
  type EffectSubject,
  moveOff,
  placeNext,
  placeUpgrade,
  runMove,
  runUpgrade,
  startSession,
  type TaskHost,
} from '../src/ladderTasks.ts';
import type { Placement } from '../src/Placement.ts';
import type { NodeRef, Placer } from '../src/Placer.ts';
import type { PlayerOptions } from '../src/PlayerTypes.ts';
import type { SessionState } from '../src/SessionLifecycle.ts';
import type { VideoSurface } from '../src/VideoSurface.ts';
import type { WebRtcSession } from '../src/WebRtcSession.ts';

/*
 * The tasks against a scripted host (the LadderDriver's side) and scripted
 * sessions: what each task reports to the ladder, and that it reports nothing
 * once what it worked for is no longer current.
 */

type Script = {
  /** start() rejects with this (the session then has failed). */
  startError?: string;
  /** Decoded frames once connected. */
  frames?: number;
};

/** A WebRTC session as the tasks use one: start, state, frames, close. */
class ScriptedSession {
  state: SessionState = 'connecting';
  reason = 'new';
  closedWith: string | null = null;
  readonly mediaStream = { id: 'stream' } as unknown as MediaStream;
  readonly options: { nodeUrl: string; forceTcp: boolean };

  constructor(
    nodeUrl: string,
    forceTcp: boolean,
    readonly nodeId: string | null,
    readonly region: string | null,
    readonly script: Script = {},
  ) {
    this.options = { nodeUrl, forceTcp };
  }

  get closed(): boolean {
    return this.state === 'closed' || this.state === 'failed';
  }

  async start(): Promise<void> {
    if (this.script.startError) {
      this.state = 'failed';
      this.reason = this.script.startError;
      throw new Error(this.script.startError);
    }
    this.state = 'connected';
    this.reason = 'playing';
  }

  async stats(): Promise<{ framesDecoded?: number }> {
    return { framesDecoded: this.script.frames ?? 0 };
  }

  close(reason: string): void {
    this.closedWith = reason;
    this.state = 'closed';
    this.reason = reason;
  }
}

const asSession = (s: ScriptedSession) => s as unknown as WebRtcSession;

function placementAt(nodeUrl: string, nodeId: string | null = null): Placement {
  return { nodeUrl, nodeId, region: 'eu', reason: 'rtt', rtts: {}, tookMs: 1, knownUrls: [], edges: null };
}

/** The driver's side, scripted: placements, new sessions, and every event the tasks dispatch. */
class ScriptedHost implements TaskHost {
  readonly options: Readonly<PlayerOptions>;
  readonly placed: (NodeRef | undefined)[] = [];
  readonly avoided: NodeRef[] = [];
  readonly settled: (string | null)[] = [];
  readonly placer: Placer;
  readonly surface: VideoSurface;
  ladder: LadderState = initialLadder();
  closed = false;
  session: WebRtcSession | null = null;
  standby: WebRtcSession | null = null;
  hls: HlsSession | null = null;
  readonly events: { event: LadderEvent; about: EffectSubject | undefined }[] = [];
  readonly opened: ScriptedSession[] = [];
  synced = 0;
  /** What the next place() answers. */
  nextPlacement = placementAt('http://relay-b', 'node-b');
  /** What the next new session does. */
  nextScript: Script = { frames: 1 };
  /** Whether the hidden WebRTC element paints (surface.rendered). */
  painted = true;
  /** Runs while surface.rendered is pending (the player moving on meanwhile). */
  duringRender: (() => void) | null = null;

  constructor(options: Partial<PlayerOptions> = {}) {
    this.options = {
      nodeUrl: 'http://relay-a',
      stream: 'match',
      token: 'viewer-token',
      moveFrameTimeoutMs: 300,
      ...options,
    };
    this.placer = {
      avoid: (node: NodeRef) => void this.avoided.push(node),
      settle: (region: string | null) => void this.settled.push(region),
    } as unknown as Placer;
    this.surface = {
      rendered: async () => {
        this.duringRender?.();
        return this.painted;
      },
    } as unknown as VideoSurface;
  }

  dispatch(event: LadderEvent, about?: EffectSubject): void {
    this.events.push({ event, about });
  }

  newSession(nodeUrl: string, forceTcp = false): WebRtcSession {
    const session = new ScriptedSession(nodeUrl, forceTcp, 'node-new', 'eu', this.nextScript);
    this.opened.push(session);
    return asSession(session);
  }

  async place(leaving?: NodeRef): Promise<Placement> {
    this.placed.push(leaving);
    return this.nextPlacement;
  }

  syncVideo(): void {
    this.synced++;
  }

  types(): string[] {
    return this.events.map((e) => e.event.type);
  }
}

const current = (host: ScriptedHost, nodeUrl = 'http://relay-a', nodeId = 'node-a') => {
  const session = new ScriptedSession(nodeUrl, false, nodeId, 'eu');
  session.state = 'connected';
  host.session = asSession(session);
  return session;
};

describe('placing and starting', () => {
  it('placeNext reports the placement, leaving the given session', async () => {
    const host = new ScriptedHost();
    const old = current(host);
    await placeNext(host, asSession(old));
    expect(host.placed).toEqual([{ url: 'http://relay-a', id: 'node-a' }]);
    expect(host.events).toEqual([{ event: { type: 'placed' }, about: { placement: host.nextPlacement } }]);
  });

  it('startSession settles the region and shows the stream of the current session only', async () => {
    const host = new ScriptedHost();
    const session = current(host);
    session.state = 'connecting';
    await startSession(host, host.session);
    expect(host.settled).toEqual(['eu']);
    expect(host.synced).toBe(1);
    const stale = new ScriptedSession('http://relay-c', false, 'node-c', 'asia');
    await startSession(host, asSession(stale));
    expect(host.settled).toEqual(['eu']);
    const failing = new ScriptedSession('http://relay-a', false, null, null, { startError: 'join-not_found' });
    host.session = asSession(failing);
    await expect(startSession(host, host.session)).resolves.toBeUndefined();
    expect(host.synced).toBe(1);
  });
});

describe('drain moves', () => {
  it('moveOff avoids and settles on the draining node, then reports where to go', async () => {
    const host = new ScriptedHost();
    const from = current(host);
    await moveOff(host, asSession(from), 'node-drain');
    expect(host.avoided).toEqual([{ url: 'http://relay-a', id: 'node-a' }]);
    expect(host.settled).toEqual(['eu']);
    expect(host.events).toEqual([
      {
        event: { type: 'move-placed', sameNode: false, reason: 'node-drain' },
        about: { session: from, placement: host.nextPlacement },
      },
    ]);
  });

  it('moveOff: the same node by URL or by id is nowhere to go; a session left meanwhile reports nothing', async () => {
    const host = new ScriptedHost();
    const from = current(host);
    host.nextPlacement = placementAt('http://relay-a', null);
    await moveOff(host, asSession(from), 'drain');
    host.nextPlacement = placementAt('http://relay-a-alias', 'node-a');
    await moveOff(host, asSession(from), 'drain');
    expect(host.events.map((e) => (e.event as { sameNode: boolean }).sameNode)).toEqual([true, true]);
    host.session = null;
    await moveOff(host, asSession(from), 'drain');
    host.session = asSession(from);
    host.closed = true;
    await moveOff(host, asSession(from), 'drain');
    expect(host.events).toHaveLength(2);
  });

  it('runMove makes the new session the standby (same transport as before) and reports it ready after a frame', async () => {
    const host = new ScriptedHost();
    const from = current(host);
    from.options.forceTcp = true;
    await runMove(host, asSession(from), placementAt('http://relay-b', 'node-b'));
    const next = host.opened[0]!;
    expect(next.options).toEqual({ nodeUrl: 'http://relay-b', forceTcp: true });
    expect(host.standby).toBe(asSession(next));
    expect(host.events).toEqual([
      { event: { type: 'move-ready', connected: true, sessionReason: 'playing' }, about: undefined },
    ]);
  });

  it('runMove: no frame by the timeout still moves (better than staying); a failed start reports move-failed', async () => {
    const host = new ScriptedHost();
    const from = current(host);
    host.nextScript = { frames: 0 };
    const startedAt = Date.now();
    await runMove(host, asSession(from), placementAt('http://relay-b'));
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(300);
    expect(host.types()).toEqual(['move-ready']);
    host.nextScript = { startError: 'ice-failed' };
    await runMove(host, asSession(from), placementAt('http://relay-c'));
    expect(host.events[1]!.event).toEqual({
      type: 'move-failed',
      message: 'drain move to http://relay-c failed: ice-failed',
      current: true,
    });
  });

  it('runMove reports nothing once its session is no longer the standby or the player closed', async () => {
    const host = new ScriptedHost();
    const from = current(host);
    const moving = runMove(host, asSession(from), placementAt('http://relay-b'));
    host.standby = null;
    await moving;
    const closing = runMove(host, asSession(from), placementAt('http://relay-b'));
    host.closed = true;
    await closing;
    expect(host.events).toEqual([]);
  });
});

describe('upgrades from HLS', () => {
  const onHls = (host: ScriptedHost) => {
    host.hls = {} as HlsSession;
    host.ladder = { ...initialLadder(), rung: 'hls', upgradeAttempt: 1 };
  };

  it('placeUpgrade reports the placement only while HLS still plays and the player is open', async () => {
    const host = new ScriptedHost();
    await placeUpgrade(host, true);
    onHls(host);
    await placeUpgrade(host, true);
    host.closed = true;
    await placeUpgrade(host, false);
    expect(host.events).toEqual([
      { event: { type: 'upgrade-placed', forceTcp: true }, about: { placement: host.nextPlacement } },
    ]);
    expect(host.placed).toEqual([undefined, undefined, undefined]);
  });

  it('runUpgrade reports rendered once the new session decoded a frame, with whether it painted', async () => {
    const host = new ScriptedHost();
    onHls(host);
    await runUpgrade(host, placementAt('http://relay-b'), true);
    host.painted = false;
    await runUpgrade(host, placementAt('http://relay-b'), false);
    expect(host.opened.map((s) => s.options)).toEqual([
      { nodeUrl: 'http://relay-b', forceTcp: true },
      { nodeUrl: 'http://relay-b', forceTcp: false },
    ]);
    expect(host.events.map((e) => e.event)).toEqual([
      { type: 'upgrade-rendered', forceTcp: true, painted: true },
      { type: 'upgrade-rendered', forceTcp: false, painted: false },
    ]);
    expect(host.opened.every((s) => s.closedWith === null)).toBe(true);
  });

  it('runUpgrade: no frame in time (strict), a failed start, or a rewind meanwhile close the try as failed', async () => {
    const host = new ScriptedHost();
    onHls(host);
    host.nextScript = { frames: 0 };
    await runUpgrade(host, placementAt('http://relay-b'), true);
    host.nextScript = { startError: 'ice-failed' };
    await runUpgrade(host, placementAt('http://relay-b'), true);
    host.nextScript = { frames: 1 };
    host.ladder = { ...host.ladder, behindLive: 10 };
    await runUpgrade(host, placementAt('http://relay-b'), true);
    expect(host.events.map((e) => e.event)).toEqual([
      { type: 'upgrade-failed', current: true },
      { type: 'upgrade-failed', current: true },
      { type: 'upgrade-failed', current: true },
    ]);
    expect(host.opened.map((s) => s.closedWith)).toEqual(['upgrade failed', 'upgrade failed', 'upgrade failed']);
  });

  it('runUpgrade superseded while the picture was checked: an unpainted early try counts as failed, else nothing', async () => {
    const host = new ScriptedHost();
    onHls(host);
    host.painted = false;
    host.duringRender = () => {
      host.standby = null;
    };
    await runUpgrade(host, placementAt('http://relay-b'), true);
    expect(host.events.map((e) => e.event)).toEqual([{ type: 'upgrade-failed', current: false }]);
    expect(host.opened[0]!.closedWith).toBe('upgrade failed');
    // From the third try an unpainted picture is taken anyway, so a superseded one is simply dropped.
    host.ladder = { ...host.ladder, upgradeAttempt: 3 };
    await runUpgrade(host, placementAt('http://relay-b'), true);
    // Painted but HLS gone meanwhile: nothing to report either.
    host.ladder = { ...host.ladder, upgradeAttempt: 1 };
    host.painted = true;
    host.duringRender = () => {
      host.hls = null;
    };
    await runUpgrade(host, placementAt('http://relay-b'), true);
    expect(host.events).toHaveLength(1);
    expect(host.opened.slice(1).map((s) => s.closedWith)).toEqual([null, null]);
  });
});
