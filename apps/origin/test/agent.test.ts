import { PROBLEM_CONTENT_TYPE, type ScoreUpdate } from '@matchmesh/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { OriginAgent, type OriginAgentOptions } from '../src/agent.ts';
import { AUDIO_SSRC, VIDEO_SSRC } from '../src/codecs.ts';
import { WhipHttpError } from '../src/whip-client.ts';
import { next, processAlive, until } from './wait.ts';
import { blackhole, TestWhipAnswerer } from './whip-answerer.ts';

/*
 * The agent against a werift WHIP answerer (a stand-in for the mediasoup
 * ingest): real ffmpeg, real ICE/DTLS/SRTP/SCTP over loopback.
 */

const TOKEN = 'publisher-token-0123456789';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function setup(opts: Partial<OriginAgentOptions> = {}) {
  const answerer = new TestWhipAnswerer(TOKEN);
  const url = await answerer.start();
  const agent = new OriginAgent({
    ingestUrl: url,
    stream: 'match',
    token: TOKEN,
    backoffBaseMs: 100,
    ...opts,
  });
  cleanups.push(async () => {
    await agent.stop();
    await answerer.stop();
  });
  return { answerer, agent };
}

/** Every m-section of an SDP as [header line, attribute lines]. */
function sections(sdp: string): Array<{ m: string; lines: string[] }> {
  return sdp
    .split(/\r?\n(?=m=)/)
    .slice(1)
    .map((s) => {
      const lines = s.split(/\r?\n/).filter(Boolean);
      return { m: lines[0]!, lines };
    });
}

function assertContiguousFrom(updates: ScoreUpdate[], first: number): void {
  for (const [i, u] of updates.entries()) expect(u.seq, `update #${i}`).toBe(first + i);
}

describe('OriginAgent over WHIP', () => {
  it('publishes H.264 + Opus + scores, backs off on 409, reconnects after the ingest drops it, no score gap', async () => {
    const { answerer, agent } = await setup({ scoreIntervalMs: 20 });
    // First POST: someone else is publishing. The agent must parse the problem and retry.
    let rejected = false;
    answerer.intercept = () => {
      if (rejected) return undefined;
      rejected = true;
      return {
        status: 409,
        headers: { 'content-type': PROBLEM_CONTENT_TYPE },
        body: JSON.stringify({ type: 'about:blank', title: 'Stream already published', status: 409 }),
      };
    };
    const failed = next<[{ error: Error; retryInMs: number }]>(agent, 'connect-failed', 'first attempt rejected');
    const connected = next<[{ sessionUrl: string; reconnects: number }]>(agent, 'connected', 'first connect');
    await agent.start();

    const [{ error, retryInMs }] = await failed;
    expect(error).toBeInstanceOf(WhipHttpError);
    expect((error as WhipHttpError).status).toBe(409);
    expect((error as WhipHttpError).problem?.title).toBe('Stream already published');
    expect(retryInMs).toBeLessThanOrEqual(100);

    const [info] = await connected;
    expect(info.reconnects).toBe(0);
    expect(info.sessionUrl).toBe(`${answerer.url}/whip/match/1`);

    // The WHIP request itself.
    const post = answerer.posts[1]!;
    expect(post.path).toBe('/whip/match');
    expect(post.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(post.headers['content-type']).toBe('application/sdp');
    const offer = post.body;
    expect(offer).toMatch(/^v=0\r?\n/);
    expect(offer).toMatch(/a=group:BUNDLE 0 1 2/);
    expect(offer).toContain('a=end-of-candidates'); // gathering was complete
    const [audio, video, app] = sections(offer);
    expect(audio!.m).toBe('m=audio 9 UDP/TLS/RTP/SAVPF 111');
    expect(audio!.lines).toContain('a=rtpmap:111 opus/48000/2');
    expect(audio!.lines).toContain('a=sendonly');
    expect(audio!.lines.some((l) => l.startsWith(`a=ssrc:${AUDIO_SSRC} `))).toBe(true);
    expect(video!.m).toBe('m=video 9 UDP/TLS/RTP/SAVPF 102');
    expect(video!.lines).toContain('a=rtpmap:102 H264/90000');
    expect(video!.lines.find((l) => l.startsWith('a=fmtp:102'))).toMatch(/packetization-mode=1/);
    expect(video!.lines.find((l) => l.startsWith('a=fmtp:102'))).toMatch(/profile-level-id=42e01f/);
    expect(video!.lines).toContain('a=sendonly');
    expect(video!.lines.some((l) => l.startsWith(`a=ssrc:${VIDEO_SSRC} `))).toBe(true);
    // Same MID extension id in both media sections (mediasoup reads it per transport).
    const midId = (lines: string[]) => lines.find((l) => l.includes('sdes:mid'))?.split(/[: ]/)[1];
    expect(midId(audio!.lines)).toBe(midId(video!.lines));
    expect(app!.m).toBe('m=application 9 UDP/DTLS/SCTP webrtc-datachannel');
    for (const s of [audio!, video!, app!]) expect(s.lines).toContain('a=setup:actpass');

    // Media arrives, with the fixed SSRCs and an in-band Constrained Baseline 3.1 SPS.
    const first = answerer.sessions[0]!;
    await until(answerer, 'rtp', () => first.rtp.h264 > 100 && first.rtp.opus > 25, 'H.264 and Opus RTP');
    expect(first.rtp.other).toBe(0);
    expect([...first.ssrcs].sort()).toEqual([AUDIO_SSRC, VIDEO_SSRC].sort());
    await until(answerer, 'rtp', () => first.spsProfile !== undefined, 'an SPS');
    expect(first.spsProfile!.slice(0, 2)).toBe('42'); // profile_idc 66 (baseline)
    expect(Number.parseInt(first.spsProfile!.slice(2, 4), 16) & 0x40).toBe(0x40); // constraint_set1: constrained
    expect(first.spsProfile!.slice(4)).toBe('1f'); // level 3.1

    // Scores arrive in order: seq 1, 2, 3... with non-decreasing media time.
    await until(answerer, 'score', () => first.scores.length >= 20, '20 scores on session 1');
    assertContiguousFrom(first.scores, 1);
    for (const [i, u] of first.scores.entries()) {
      expect(u.stream).toBe('match');
      if (i > 0) expect(u.mediaTime).toBeGreaterThanOrEqual(first.scores[i - 1]!.mediaTime);
    }
    expect(first.scores.at(-1)!.mediaTime).toBeGreaterThan(0);

    // The ingest drops the publisher. Updates produced meanwhile are queued.
    const disconnected = next<[{ reason: string }]>(agent, 'disconnected', 'disconnect');
    const reconnected = next<[{ reconnects: number }]>(agent, 'connected', 'reconnect');
    await answerer.killSession(first);
    const lastBeforeKill = first.scores.at(-1)!.seq;
    await disconnected;
    const [again] = await reconnected;
    expect(again.reconnects).toBe(1);
    expect(answerer.posts).toHaveLength(3); // 409, first session, new session
    const second = answerer.sessions[1]!;
    await until(answerer, 'delete', () => first.deleted, 'DELETE of the dead session', 5000);

    await until(
      answerer,
      'score',
      () => (second.scores.at(-1)?.seq ?? 0) >= agent.stats.lastSeq - 2 && second.scores.length >= 20,
      'session 2 catching up',
    );
    // No gap: session 2 starts at or before the first update session 1 never got,
    // then counts up by one (replays of already-delivered seqs are allowed; the
    // ingest drops duplicates).
    expect(second.scores[0]!.seq).toBeLessThanOrEqual(first.scores.at(-1)!.seq + 1);
    expect(first.scores.at(-1)!.seq).toBeGreaterThanOrEqual(lastBeforeKill);
    assertContiguousFrom(second.scores, second.scores[0]!.seq);
    const seen = new Set(answerer.scores.map((u) => u.seq));
    const max = Math.max(...seen);
    for (let s = 1; s <= max; s++) expect(seen.has(s), `seq ${s} delivered`).toBe(true);

    await until(answerer, 'rtp', () => second.rtp.h264 > 30 && second.rtp.opus > 10, 'media on session 2');

    const stats = agent.stats;
    expect(stats.reconnects).toBe(1);
    expect(stats.packetsSent.video).toBeGreaterThan(100);
    expect(stats.packetsSent.audio).toBeGreaterThan(25);
    expect(stats.scoresDropped).toBe(0);

    // Clean stop: DELETE the live session and kill ffmpeg.
    const pid = agent.ffmpegPid!;
    expect(processAlive(pid)).toBe(true);
    await agent.stop();
    expect(second.deleted).toBe(true);
    expect(processAlive(pid)).toBe(false);
  });

  it('detects an ingest that goes silent (no close) within the liveness timeout and reconnects', async () => {
    // The default liveness timeout (800 ms): the agent's STUN probes keep a live session
    // heard from although werift's answerer sends receiver reports only every 0.5-1.5 s.
    const { answerer, agent } = await setup({ scoreIntervalMs: 0 });
    answerer.dtlsSetup = 'passive'; // the agent is the DTLS client here, as against mediasoup

    const connected = next(agent, 'connected', 'connect');
    await agent.start();
    await connected;
    const first = answerer.sessions[0]!;
    await until(answerer, 'rtp', () => first.rtp.h264 > 10, 'first video');
    // Three seconds of a healthy session: never declared dead by the 800 ms watchdog.
    await new Promise((r) => setTimeout(r, 3000));
    expect(agent.stats.reconnects).toBe(0);

    const disconnected = next<[{ reason: string }]>(agent, 'disconnected', 'silence detected', 6000);
    const reconnected = next(agent, 'connected', 'reconnect', 8000);
    const t0 = Date.now();
    blackhole(first);
    const [{ reason }] = await disconnected;
    expect(reason).toMatch(/no packets from ingest/);
    const detectedMs = Date.now() - t0;
    console.log(`origin agent: dead session detected ${detectedMs} ms after the path went silent`);
    expect(detectedMs).toBeLessThanOrEqual(1000);
    await reconnected;
    const second = answerer.sessions[1]!;
    expect(second.answer).toContain('a=setup:passive');
    await until(answerer, 'rtp', () => second.rtp.h264 > 10, 'video on the new session');
  });

  it('retries slowly on a non-transient rejection (401) and reports the problem', async () => {
    const { agent } = await setup({ token: 'wrong-token-0123456789', slowRetryMs: 300, scoreIntervalMs: 0 });
    const failures: Array<{ error: Error; retryInMs: number }> = [];
    agent.on('connect-failed', (f) => failures.push(f));
    await agent.start();
    await until(agent, 'connect-failed', () => failures.length >= 2, 'two rejected attempts');
    for (const f of failures) {
      expect(f.error).toBeInstanceOf(WhipHttpError);
      expect((f.error as WhipHttpError).status).toBe(401);
      expect((f.error as WhipHttpError).problem?.title).toBe('bad token');
      expect(f.retryInMs).toBe(300);
    }
    expect(agent.connected).toBe(false);
  });
});
