import { z } from 'zod';
import { StreamId } from './ids.ts';

/** One commentator on air: their voice as the ingest receives it. */
export const BoothCommentator = z.object({
  /** The voice's producer id (one per commentator connection). */
  id: z.string(),
  /** BCP 47 language (the token's). */
  lang: z.string(),
  /** On air since (ms since the epoch). */
  since: z.number(),
  /** Audio level of the voice (dBov, −127 silence … 0 loudest; mediasoup's AudioLevelObserver, 500 ms windows); null before the first window. */
  levelDbov: z.number().nullable(),
  /** RTP packets received and lost (cumulative), and the loss fraction of the last RTCP interval (%). */
  packets: z.number().int().min(0),
  packetsLost: z.number().int(),
  lossPercent: z.number().min(0).max(100),
  /** Round trip to the commentator (ms), from RTCP; null when the browser's reports do not allow it. */
  rttMs: z.number().nullable(),
  /** Inter-arrival jitter (RTP timestamp units, 48 kHz), and the receive bit rate (bit/s). */
  jitter: z.number().min(0),
  bitrate: z.number().min(0),
  /** How long the voice is held before the mix (ms): the language's delay minus this commentator's (equalisation). */
  holdMs: z.number().min(0).optional(),
});
export type BoothCommentator = z.infer<typeof BoothCommentator>;

/** `GET /api/v1/streams/:stream/booth`: the commentary booth of a stream, on its ingest (where commentators produce). */
export const BoothResponse = z.object({
  stream: StreamId,
  nodeId: z.string(),
  /** Languages on air (a mixer running; it lingers after its last commentator), with how many are in each mix. */
  languages: z.array(
    z.object({
      lang: z.string(),
      commentators: z.number().int().min(0),
      /** The mixer's own lag as measured live (ms: voice in → mix out); absent until a voice was found in the mix. */
      mixerLagMs: z.number().min(0).optional(),
    }),
  ),
  commentators: z.array(BoothCommentator),
});
export type BoothResponse = z.infer<typeof BoothResponse>;
