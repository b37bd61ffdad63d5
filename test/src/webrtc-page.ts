import type { Page } from 'playwright-core';

/**
 * Plain-WebRTC clients run inside a Chromium page: no mediasoup-client, just
 * RTCPeerConnection and fetch, as any standard WHIP/WHEP tool would do. The
 * page must be on the node's origin (http://127.0.0.1 is a secure context).
 */

/** Publish the fake camera and microphone over WHIP. Resolves with the session URL. */
/**
 * Publish the fake camera and microphone over WHIP from a bare RTCPeerConnection.
 * `simulcast`: rids, lowest layer first, each scaled down from the capture by its
 * factor (Chromium's own `sendEncodings`, as a browser publisher sends simulcast).
 */
export async function whipPublishFromPage(
  page: Page,
  whipUrl: string,
  token: string,
  options: { width?: number; height?: number; simulcast?: { rid: string; scaleResolutionDownBy: number }[] } = {},
): Promise<string> {
  return page.evaluate(
    async ({ whipUrl, token, width, height, simulcast }) => {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width, height } });
      const pc = new RTCPeerConnection();
      for (const track of stream.getTracks()) {
        pc.addTransceiver(track, {
          direction: 'sendonly',
          ...(track.kind === 'video' && simulcast ? { sendEncodings: simulcast } : {}),
        });
      }
      const dc = pc.createDataChannel('scores', { negotiated: true, id: 0, ordered: true });
      (window as unknown as { __whip: unknown }).__whip = { pc, dc };
      await pc.setLocalDescription(await pc.createOffer());
      const res = await fetch(whipUrl, {
        method: 'POST',
        headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${token}` },
        body: pc.localDescription!.sdp,
      });
      if (res.status !== 201) throw new Error(`WHIP ${res.status}: ${await res.text()}`);
      await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
      await new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (pc.connectionState === 'connected') resolve();
          if (pc.connectionState === 'failed') reject(new Error('publisher connection failed'));
        };
        pc.addEventListener('connectionstatechange', check);
        check();
      });
      return new URL(res.headers.get('Location')!, whipUrl).toString();
    },
    { whipUrl, token, width: options.width ?? 640, height: options.height ?? 360, simulcast: options.simulcast },
  );
}

export interface WhepResult {
  status: number;
  framesDecoded: number;
  audioPackets: number;
  /** ms from the WHEP POST to the first decoded video frame. */
  firstFrameMs?: number;
  /** The video codec the viewer decodes (e.g. "video/H264"), and its fmtp line. */
  videoCodec?: string;
  videoFmtp?: string;
  error?: string;
  /** Where the video stopped, for a failure message: packets and key frames in, PLIs out, ICE/DTLS state. */
  diagnostics?: {
    videoPackets: number;
    keyFramesDecoded: number;
    pliCount: number;
    connection: string;
    /** Every video inbound-rtp stream the browser made (an unsignaled SSRC gets one too): ssrc, packets, codec. */
    videoStreams?: string[];
  };
  /** The answer's video section, without candidates and keys (for a failure message). */
  answerVideo?: string;
}

/** Watch over WHEP with a bare RTCPeerConnection until `frames` video frames are decoded. */
export async function whepPlayInPage(page: Page, whepUrl: string, token: string, frames = 30): Promise<WhepResult> {
  return page.evaluate(
    async ({ whepUrl, token, frames }) => {
      const pc = new RTCPeerConnection();
      pc.addTransceiver('video', { direction: 'recvonly' });
      pc.addTransceiver('audio', { direction: 'recvonly' });
      await pc.setLocalDescription(await pc.createOffer());
      const postedAt = performance.now();
      const res = await fetch(whepUrl, {
        method: 'POST',
        headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${token}` },
        body: pc.localDescription!.sdp,
      });
      if (res.status !== 201) return { status: res.status, framesDecoded: 0, audioPackets: 0, error: await res.text() };
      const answer = await res.text();
      await pc.setRemoteDescription({ type: 'answer', sdp: answer });
      const answerVideo = (answer.split(/^(?=m=)/m).find((m) => m.startsWith('m=video')) ?? '')
        .split(/\r?\n/)
        .filter((l) => l && !/^a=(candidate|fingerprint|ice-)/.test(l))
        .join(' | ');
      const deadline = Date.now() + 20_000;
      let framesDecoded = 0;
      let audioPackets = 0;
      let firstFrameMs: number | undefined;
      let videoCodecId: string | undefined;
      let diagnostics = {
        videoPackets: 0,
        keyFramesDecoded: 0,
        pliCount: 0,
        connection: pc.connectionState as string,
        videoStreams: [] as string[],
      };
      let stats = await pc.getStats();
      while (Date.now() < deadline) {
        stats = await pc.getStats();
        const videoStreams: string[] = [];
        stats.forEach((s) => {
          if (s.type === 'inbound-rtp' && s.kind === 'video') {
            videoStreams.push(
              `ssrc ${s.ssrc}: ${s.packetsReceived} packets, ${s.bytesReceived} bytes, codec ${s.codecId}`,
            );
            framesDecoded = s.framesDecoded ?? 0;
            videoCodecId = s.codecId;
            diagnostics = {
              videoPackets: s.packetsReceived ?? 0,
              keyFramesDecoded: s.keyFramesDecoded ?? 0,
              pliCount: s.pliCount ?? 0,
              connection: pc.connectionState,
              videoStreams,
            };
          }
          if (s.type === 'inbound-rtp' && s.kind === 'audio') audioPackets = s.packetsReceived ?? 0;
        });
        if (framesDecoded > 0) firstFrameMs ??= Math.round(performance.now() - postedAt);
        if (framesDecoded >= frames && audioPackets > 0) break;
        // Polling getStats is the only way to observe decoding of a bare track.
        await new Promise((r) => setTimeout(r, 100));
      }
      pc.close();
      let codec: { mimeType?: string; sdpFmtpLine?: string } | undefined;
      stats.forEach((s) => {
        if (s.type === 'codec' && s.id === videoCodecId) codec = s;
      });
      return {
        status: res.status,
        framesDecoded,
        audioPackets,
        firstFrameMs,
        videoCodec: codec?.mimeType,
        videoFmtp: codec?.sdpFmtpLine,
        diagnostics,
        answerVideo,
      };
    },
    { whepUrl, token, frames },
  );
}

/** What a WHEP player started by whepWatchInPage keeps on the page (`window.__whep`). */
interface WhepPlayer {
  pc: RTCPeerConnection;
  video: HTMLVideoElement;
}

/**
 * Start a WHEP player that keeps playing: a bare RTCPeerConnection whose video track plays in a
 * <video> element on the page (`window.__whep`), for tests that watch a WHEP session over time
 * (frame sizes, freezes with startFrameClock). A stream not live yet (409) is retried for 30 s.
 * Resolves with the offer and the answer once the session is set up.
 */
export async function whepWatchInPage(
  page: Page,
  whepUrl: string,
  token: string,
): Promise<{ offer: string; answer: string }> {
  return page.evaluate(
    async ({ whepUrl, token }) => {
      const pc = new RTCPeerConnection();
      pc.addTransceiver('video', { direction: 'recvonly' });
      pc.addTransceiver('audio', { direction: 'recvonly' });
      const video = document.createElement('video');
      video.muted = true;
      video.autoplay = true;
      video.playsInline = true;
      document.body.append(video);
      pc.addEventListener('track', (e) => {
        if (e.track.kind === 'video') video.srcObject = new MediaStream([e.track]);
      });
      await pc.setLocalDescription(await pc.createOffer());
      const deadline = Date.now() + 30_000;
      for (;;) {
        const res = await fetch(whepUrl, {
          method: 'POST',
          headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${token}` },
          body: pc.localDescription!.sdp,
        });
        const body = await res.text();
        if (res.status === 409 && Date.now() < deadline) {
          // The stream is not live yet: the origin is still connecting (Retry-After, shortened).
          await new Promise((r) => setTimeout(r, 250));
          continue;
        }
        if (res.status !== 201) throw new Error(`WHEP ${res.status}: ${body}`);
        await pc.setRemoteDescription({ type: 'answer', sdp: body });
        (window as unknown as { __whep: WhepPlayer }).__whep = { pc, video };
        return { offer: pc.localDescription!.sdp, answer: body };
      }
    },
    { whepUrl, token },
  );
}

/** The WHEP player's picture: the <video> element's size and the decoder's (getStats inbound-rtp). */
export async function whepFrameSize(
  page: Page,
): Promise<{ videoHeight: number; statsHeight: number; framesDecoded: number }> {
  return page.evaluate(async () => {
    const { pc, video } = (window as unknown as { __whep: WhepPlayer }).__whep;
    let statsHeight = 0;
    let framesDecoded = 0;
    (await pc.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') {
        statsHeight = s.frameHeight ?? 0;
        framesDecoded = s.framesDecoded ?? 0;
      }
    });
    return { videoHeight: video.videoHeight, statsHeight, framesDecoded };
  });
}

/**
 * A WHEP player of a commentary language, as a person would build one: a bare RTCPeerConnection offering
 * video, the venue audio and a second audio section (`?lang=` in `whepUrl` picks what it carries). The
 * picture and the venue sound play in one muted <video data-testid="video"> (one lip-synced stream, as
 * the watch page plays it), and the page answers `window.__mm.commentaryTracks()` with the commentary
 * track under `lang`, so the click-sync helpers (installFrameReader, installClickEar) time it like a
 * watch page. Resolves once the session is set up.
 */
export async function whepLanguagePlayerInPage(
  page: Page,
  whepUrl: string,
  token: string,
  lang: string,
): Promise<void> {
  await page.evaluate(
    async ({ whepUrl, token, lang }) => {
      const pc = new RTCPeerConnection();
      const video = pc.addTransceiver('video', { direction: 'recvonly' });
      const venue = pc.addTransceiver('audio', { direction: 'recvonly' });
      const commentary = pc.addTransceiver('audio', { direction: 'recvonly' });
      const element = document.createElement('video');
      element.setAttribute('data-testid', 'video');
      element.muted = true;
      element.autoplay = true;
      element.playsInline = true;
      element.srcObject = new MediaStream([video.receiver.track, venue.receiver.track]);
      document.body.append(element);
      (window as unknown as { __mm: unknown }).__mm = {
        commentaryTracks: () => [{ lang, track: commentary.receiver.track }],
      };
      await pc.setLocalDescription(await pc.createOffer());
      const res = await fetch(whepUrl, {
        method: 'POST',
        headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${token}` },
        body: pc.localDescription!.sdp,
      });
      const body = await res.text();
      if (res.status !== 201) throw new Error(`WHEP ${res.status}: ${body}`);
      await pc.setRemoteDescription({ type: 'answer', sdp: body });
      (window as unknown as { __whep: unknown }).__whep = { pc, video: element };
      await element.play();
    },
    { whepUrl, token, lang },
  );
}
