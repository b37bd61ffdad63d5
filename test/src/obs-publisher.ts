import type { Page } from 'playwright-core';

/**
 * A WHIP publisher shaped like OBS's (libdatachannel): Chromium's real WebRTC
 * stack, but an offer as OBS sends it — Opus and H.264 Constrained Baseline
 * 42e01f packetization-mode=1 only (no VP8, no RTX, no DataChannel), sent once
 * after ICE gathering with no candidates in it (the ICE-lite ingest learns the
 * publisher's address from its connectivity checks, as a peer-reflexive
 * candidate), no trickle, `Authorization: Bearer`. The page must be on the
 * node's origin.
 */
export interface ObsStyleResult {
  /** HTTP status of the WHIP POST. */
  status: number;
  /** The offer exactly as POSTed. */
  offer: string;
  /** The answer, or the problem body when the POST was refused. */
  body: string;
  contentType: string | null;
  /** Absolute session URL (201 only). */
  session?: string;
}

/**
 * POST the OBS-shaped offer. `profileLevelId` rewrites the offered H.264
 * profile (an encoder set to another profile, e.g. High 640c1f); on 201 the
 * answer is applied and the call resolves once the publisher is connected.
 */
export async function whipPublishObsStyle(
  page: Page,
  whipUrl: string,
  token: string,
  profileLevelId = '42e01f',
): Promise<ObsStyleResult> {
  return page.evaluate(
    async ({ whipUrl, token, profileLevelId }) => {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 360 } });
      const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
      for (const track of stream.getTracks()) {
        const transceiver = pc.addTransceiver(track, { direction: 'sendonly' });
        const codecs = RTCRtpSender.getCapabilities(track.kind)!.codecs.filter((c) =>
          track.kind === 'audio'
            ? c.mimeType === 'audio/opus'
            : c.mimeType === 'video/H264' &&
              (c.sdpFmtpLine ?? '').includes('profile-level-id=42e01f') &&
              (c.sdpFmtpLine ?? '').includes('packetization-mode=1'),
        );
        if (codecs.length === 0) throw new Error(`this Chromium cannot send OBS's ${track.kind} codec`);
        transceiver.setCodecPreferences(codecs);
      }
      (window as unknown as { __obs: unknown }).__obs = { pc };
      await pc.setLocalDescription(await pc.createOffer());
      // OBS waits for gathering and sends one offer: no trickle.
      await new Promise<void>((resolve) => {
        if (pc.iceGatheringState === 'complete') return resolve();
        pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && resolve());
      });
      const offer = pc
        .localDescription!.sdp.split('\r\n')
        .filter((line) => !line.startsWith('a=candidate:') && line !== 'a=end-of-candidates')
        .join('\r\n')
        .replaceAll('profile-level-id=42e01f', `profile-level-id=${profileLevelId}`);
      const res = await fetch(whipUrl, {
        method: 'POST',
        headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${token}` },
        body: offer,
      });
      const body = await res.text();
      const result = { status: res.status, offer, body, contentType: res.headers.get('content-type') };
      if (res.status !== 201) {
        pc.close();
        return result;
      }
      await pc.setRemoteDescription({ type: 'answer', sdp: body });
      await new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (pc.connectionState === 'connected') resolve();
          if (pc.connectionState === 'failed') reject(new Error('OBS-style publisher: connection failed'));
        };
        pc.addEventListener('connectionstatechange', check);
        check();
      });
      return { ...result, session: new URL(res.headers.get('Location')!, whipUrl).toString() };
    },
    { whipUrl, token, profileLevelId },
  );
}
