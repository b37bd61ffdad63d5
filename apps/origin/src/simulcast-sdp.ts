import { RTP_STREAM_ID_URI } from './codecs.ts';
import { type LadderLayer, ridRestrictions } from './ladder.ts';

/*
 * werift writes no simulcast into an offer it sends from (its simulcast
 * option writes bare `a=rid:<rid> send` lines and only as a receiver does it
 * use them), so the agent declares its layers itself in the offer text before
 * POSTing it. werift never reads its own offer back, and the answer's
 * `a=simulcast:recv`/`a=rid ... recv` lines are ignored by a sendonly
 * transceiver, so nothing inside werift changes.
 *
 * The video m-section then reads (RFC 8853, RFC 8851):
 *   a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id
 *   a=rid:r0 send max-width=640;max-height=360;max-fps=30
 *   a=rid:r1 send max-width=1280;max-height=720;max-fps=60
 *   a=rid:r2 send max-width=1920;max-height=1080;max-fps=60
 *   a=simulcast:send r0;r1;r2
 * rids from the lowest to the highest quality; no a=ssrc lines (the ingest
 * learns each layer's SSRC from the rid in its packets, as with a browser's
 * simulcast offer).
 */

export function simulcastOffer(sdp: string, layers: readonly LadderLayer[]): string {
  const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
  const lines = sdp.split(/\r?\n/);
  const trailing = lines.at(-1) === '' ? lines.pop() : undefined;
  const out: string[] = [];
  let inVideo = false;
  let videoSections = 0;
  let hasRidExtension = false;
  const closeVideo = () => {
    if (!inVideo) return;
    if (!hasRidExtension) throw new Error('the offer has no rtp-stream-id header extension in its video m-section');
    for (const layer of layers) out.push(`a=rid:${layer.rid} send ${ridRestrictions(layer)}`);
    out.push(`a=simulcast:send ${layers.map((l) => l.rid).join(';')}`);
    inVideo = false;
  };
  for (const line of lines) {
    if (line.startsWith('m=')) {
      closeVideo();
      inVideo = line.startsWith('m=video ');
      if (inVideo) videoSections++;
    }
    if (inVideo) {
      if (line.startsWith('a=ssrc:') || line.startsWith('a=ssrc-group:')) continue;
      if (line.startsWith('a=rid:') || line.startsWith('a=simulcast:')) continue;
      if (line.startsWith('a=extmap:') && line.includes(RTP_STREAM_ID_URI)) hasRidExtension = true;
    }
    out.push(line);
  }
  closeVideo();
  if (videoSections !== 1) throw new Error(`expected one video m-section in the offer, found ${videoSections}`);
  if (trailing !== undefined) out.push(trailing);
  return out.join(eol);
}
