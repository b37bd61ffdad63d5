import type { StableTrack } from './StableTrack.ts';

/**
 * PLI / FIR for a stable producer (a viewer wants a key frame): ask the
 * source feeding the layer whose SSRC it names (PLI: the media source
 * SSRC; FIR: the SSRC of each FCI entry). A FIR naming none of the track's
 * SSRCs asks every layer. `packet` is a compound RTCP packet as the
 * DirectTransport hands it up.
 */
export function forwardKeyFrameRequests(
  packet: Buffer,
  video: Pick<StableTrack, 'layerOfSsrc' | 'requestKeyFrame'>,
): void {
  for (let off = 0; off + 4 <= packet.length; ) {
    const fmt = packet[off]! & 0x1f;
    const pt = packet[off + 1]!;
    const len = (packet.readUInt16BE(off + 2) + 1) * 4;
    const end = Math.min(packet.length, off + len);
    if (pt === 206 && fmt === 1 && off + 12 <= end) {
      video.requestKeyFrame(video.layerOfSsrc(packet.readUInt32BE(off + 8)));
    } else if (pt === 206 && fmt === 4 && off + 12 <= end) {
      let any = false;
      for (let fci = off + 12; fci + 8 <= end; fci += 8) {
        const layer = video.layerOfSsrc(packet.readUInt32BE(fci));
        if (layer !== undefined) {
          video.requestKeyFrame(layer);
          any = true;
        }
      }
      if (!any) video.requestKeyFrame();
    }
    off += len;
  }
}
