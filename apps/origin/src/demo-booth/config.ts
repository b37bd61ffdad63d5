import { LanguageTag } from '@matchmesh/protocol';
import { z } from 'zod';

/*
 * The demo booth (`npm start`): one headless commentator per language that
 * publishes a synthetic voice — a beeping tone, its pitch naming the
 * language — so a newcomer hears the language menu switch on WebRTC and HLS.
 * Configured by env vars, checked here (the same zod-at-the-edge rule as the
 * node and the origin agent).
 */

export const BoothConfigSchema = z.object({
  /** HTTP base URL of the stream's ingest (commentators produce there). */
  MM_BOOTH_NODE_URL: z.string().url(),
  MM_STREAM: z.string().min(1).max(64).default('match'),
  /** A commentator token for the stream; its `lang` claim picks the booth. */
  MM_BOOTH_TOKEN: z.string().min(1),
  /** The language (for logs and the tone's default pitch); the token's claim is what the node obeys. */
  MM_BOOTH_LANG: LanguageTag,
  /** Pitch of the voice's tone (Hz); default per language so two languages sound apart. */
  MM_BOOTH_TONE_HZ: z.coerce.number().int().min(50).max(8000).optional(),
  /** Beeps per second (the tone is on half of each period): a tone that pulses reads as "speech" in the level meter. */
  MM_BOOTH_BEEPS_PER_S: z.coerce.number().min(0.1).max(20).default(1),
  MM_FFMPEG: z.string().min(1).default('ffmpeg'),
  /** Restart the session after this many ms without a connected transport. */
  MM_BOOTH_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(500).max(120_000).default(10_000),
});

export interface BoothConfig {
  nodeUrl: string;
  stream: string;
  token: string;
  lang: string;
  toneHz: number;
  beepsPerSecond: number;
  ffmpeg: string;
  connectTimeoutMs: number;
}

/** Distinct, easily told apart pitches for the usual demo languages; others hash into 300–1500 Hz. */
const DEFAULT_TONES: Record<string, number> = { en: 600, es: 900, fr: 1200, de: 450 };

export function defaultToneHz(lang: string): number {
  const known = DEFAULT_TONES[lang.toLowerCase()];
  if (known) return known;
  let h = 0;
  for (const c of lang) h = (h * 31 + c.charCodeAt(0)) % 1201;
  return 300 + h;
}

/** Parse the booth's env; throws a readable error naming every bad variable. */
export function parseBoothConfig(env: Record<string, string | undefined>): BoothConfig {
  const parsed = BoothConfigSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new Error(`demo booth config: ${lines.join('; ')}`);
  }
  const c = parsed.data;
  return {
    nodeUrl: c.MM_BOOTH_NODE_URL,
    stream: c.MM_STREAM,
    token: c.MM_BOOTH_TOKEN,
    lang: c.MM_BOOTH_LANG,
    toneHz: c.MM_BOOTH_TONE_HZ ?? defaultToneHz(c.MM_BOOTH_LANG),
    beepsPerSecond: c.MM_BOOTH_BEEPS_PER_S,
    ffmpeg: c.MM_FFMPEG,
    connectTimeoutMs: c.MM_BOOTH_CONNECT_TIMEOUT_MS,
  };
}

/** The tone's peak amplitude (of full scale): −12 dBFS. */
const TONE_AMPLITUDE = 0.25;
/** RFC 6464's floor: level 127 is −127 dBov, silence. */
const SILENCE_DBOV = 127;

/**
 * The RFC 6464 audio level (0–127, in −dBov) of the 20 ms packet `seconds`
 * into the tone ffmpeg makes (toneFfmpegArgs): the booth knows what it says,
 * so it labels each packet without decoding it. While the beep is on, the
 * sine's RMS (amplitude/√2, −15 dBov as Chromium would measure it); between
 * beeps, silence. mediasoup's AudioLevelObserver (the node's booth level in
 * /ops) reads only this header.
 */
export function toneLevel(c: Pick<BoothConfig, 'beepsPerSecond'>, seconds: number): number {
  const phase = (seconds * c.beepsPerSecond) % 1;
  if (phase >= 0.5) return SILENCE_DBOV;
  return Math.round(-20 * Math.log10(TONE_AMPLITUDE / Math.SQRT2));
}

/**
 * ffmpeg: a pulsing sine (on for half of each beep period, amplitude 0.25 =
 * −12 dBFS) → mono Opus 20 ms (what a browser booth sends) →
 * RTP on localhost, with our payload type and SSRC. A connected socket
 * (connect=1): when the booth is SIGKILLed its port answers ICMP unreachable,
 * ffmpeg's send fails and the orphan exits instead of beeping on forever.
 */
export function toneFfmpegArgs(c: BoothConfig, rtpPort: number, payloadType: number, ssrc: number): string[] {
  // Commas escaped: unescaped they would separate filters in the lavfi graph.
  const expr = `${TONE_AMPLITUDE}*sin(2*PI*${c.toneHz}*t)*lt(mod(t*${c.beepsPerSecond}\\,1)\\,0.5)`;
  return [
    ...['-hide_banner', '-loglevel', 'error', '-nostdin', '-re'],
    ...['-f', 'lavfi', '-i', `aevalsrc=${expr}:s=48000:c=mono`],
    ...['-c:a', 'libopus', '-b:a', '32k', '-application', 'voip', '-frame_duration', '20', '-ac', '1'],
    // skip_rtcp: the muxer's sender reports go to port + 1, where nothing listens; the ICMP unreachable fails
    // the connected socket's next write and ffmpeg exits ~5 s in (werift sends the voice's RTCP itself).
    ...['-f', 'rtp', '-rtpflags', 'skip_rtcp', '-payload_type', String(payloadType), '-ssrc', String(ssrc)],
    `rtp://127.0.0.1:${rtpPort}?pkt_size=1200&connect=1`,
  ];
}
