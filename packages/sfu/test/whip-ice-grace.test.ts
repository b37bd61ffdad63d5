import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../src/logger.ts';
import { MediaService } from '../src/MediaService.ts';
import type { StreamRouter } from '../src/StreamRouter.ts';
import { WhipSession } from '../src/WhipSession.ts';
import { WorkerPool } from '../src/WorkerPool.ts';
import { freePortRange } from './free-ports.ts';

/** A WHIP offer (audio + H.264) nobody completes ICE for: the session's lifecycle is what is tested. */
const OFFER = `${[
  'v=0',
  'o=- 1 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0 1',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111',
  'c=IN IP4 0.0.0.0',
  'a=ice-ufrag:grAc',
  'a=ice-pwd:abcdefghijklmnopqrstuvwx',
  'a=fingerprint:sha-256 DC:8D:3A:C2:3C:70:7E:F9:FF:89:20:11:4B:11:6E:E7:2F:4D:D1:41:4C:B6:8B:B9:6A:95:78:1B:BC:37:8D:D0',
  'a=setup:actpass',
  'a=mid:0',
  'a=sendonly',
  'a=rtcp-mux',
  'a=rtpmap:111 opus/48000/2',
  'a=ssrc:1111 cname:grace',
  'm=video 9 UDP/TLS/RTP/SAVPF 102',
  'c=IN IP4 0.0.0.0',
  'a=ice-ufrag:grAc',
  'a=ice-pwd:abcdefghijklmnopqrstuvwx',
  'a=fingerprint:sha-256 DC:8D:3A:C2:3C:70:7E:F9:FF:89:20:11:4B:11:6E:E7:2F:4D:D1:41:4C:B6:8B:B9:6A:95:78:1B:BC:37:8D:D0',
  'a=setup:actpass',
  'a=mid:1',
  'a=sendonly',
  'a=rtcp-mux',
  'a=rtpmap:102 H264/90000',
  'a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
  'a=ssrc:2222 cname:grace',
].join('\r\n')}\r\n`;

const GRACE_MS = 300;

/**
 * RFC 9725 §4.3.2: an ICE restart exists for the moment ICE is lost. The
 * session (transport, producers) survives ICE `disconnected` for a grace
 * period; coming back within it keeps everything; staying away closes it.
 * The real mediasoup transport's own event is emitted (ICE cannot be made to
 * drop on loopback without a peer).
 */
describe('a WHIP session through ICE disconnected', () => {
  let media: MediaService;
  let stream: StreamRouter;

  beforeAll(async () => {
    const pool = await WorkerPool.create({
      size: 1,
      listenIp: '127.0.0.1',
      basePort: await freePortRange(1),
      rtcMinPort: 20_000,
      rtcMaxPort: 59_999,
      viewersPerWorker: 0,
    });
    media = new MediaService(pool, silentLogger);
    stream = await media.getOrCreateStream('grace');
  });

  afterAll(() => media?.close());

  const publish = () => WhipSession.create(stream, OFFER, { iceGraceMs: GRACE_MS, takeoverSilenceMs: 0 });
  const closed = (s: WhipSession) => new Promise<string>((resolve) => s.once('close', resolve));

  it('comes back within the grace: the same session and producers go on', async () => {
    const session = await publish();
    const producers = session.producers.map((p) => p.id);
    session.transport.emit('icestatechange', 'disconnected');
    await new Promise((r) => setTimeout(r, GRACE_MS / 2));
    session.transport.emit('icestatechange', 'completed');
    // Well past the grace: still open, nothing closed (waiting is the test here: nothing must happen).
    await new Promise((r) => setTimeout(r, GRACE_MS * 2));
    expect(session.closed).toBe(false);
    expect(session.producers.every((p) => !p.closed)).toBe(true);
    expect(session.producers.map((p) => p.id)).toEqual(producers);
    session.close('test over');
  });

  it('stays away past the grace: the session closes, with the reason', async () => {
    const session = await publish();
    const t0 = performance.now();
    const reason = closed(session);
    session.transport.emit('icestatechange', 'disconnected');
    expect(await reason).toBe('ice disconnected');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(GRACE_MS - 5);
    expect(session.transport.closed).toBe(true);
  });

  it('ICE closed is the end at once', async () => {
    const session = await publish();
    const reason = closed(session);
    session.transport.emit('icestatechange', 'closed');
    expect(await reason).toBe('ice closed');
  });
});
