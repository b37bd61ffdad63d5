import { z } from 'zod';
import { StreamId } from './ids.ts';

/**
 * Billiards score state as the overlay shows it. Kept deliberately small: the
 * whole state travels in every update, so a viewer that missed one (or a late
 * joiner) is right again with the next.
 */
export const PlayerScore = z.object({
  name: z.string().min(1).max(64),
  /** Frames (racks) won in the match. */
  frames: z.number().int().min(0).max(1000),
  /** Points in the current frame (snooker) or balls potted (pool). */
  points: z.number().int().min(0).max(1000),
});
export type PlayerScore = z.infer<typeof PlayerScore>;

export const BilliardsScore = z.object({
  players: z.tuple([PlayerScore, PlayerScore]),
  /** First to this many frames wins. */
  raceTo: z.number().int().min(1).max(1000),
  /** Current frame number, 1-based. */
  frame: z.number().int().min(1).max(10000),
  /** Index of the player at the table. */
  atTable: z.union([z.literal(0), z.literal(1)]),
  /** Human text of what just happened ("Pot: red", "Foul", "Frame to Lee"). */
  event: z.string().max(200).optional(),
});
export type BilliardsScore = z.infer<typeof BilliardsScore>;

/**
 * The origin's epoch: chosen (milliseconds since the Unix epoch) when an
 * origin agent or a score feeder starts without a journal, kept in its
 * journal. A later epoch supersedes an earlier one: updates of an older epoch
 * (a replaced host still running, a replay of its queue) are refused.
 */
export const ScoreEpoch = z.number().int().min(0);

/**
 * One score update, keyed by (epoch, seq). `seq` is per stream, starts at 1
 * and increases by exactly one per update across epochs: a new origin host
 * learns the stream's last seq from the ingest (the WHIP answer's
 * `Matchmesh-Last-Score`, or `GET …/scores/latest`) and continues after it.
 * That is what lets the ingest drop duplicates and lets a viewer prove it saw
 * every update in order. `mediaTime` is the presentation time of the video
 * frame the update belongs to, in milliseconds since the stream's epoch
 * (frame n of a 30 fps stream is n * 1000 / 30).
 */
export const ScoreUpdate = z.object({
  stream: StreamId,
  /** Absent: epoch 0 (a publisher that predates epochs). */
  epoch: ScoreEpoch.optional(),
  seq: z.number().int().min(1),
  mediaTime: z.number().min(0),
  /** Wall clock at the origin when the update was produced (ms since epoch). */
  sentAt: z.number().int().min(0),
  score: BilliardsScore,
});
export type ScoreUpdate = z.infer<typeof ScoreUpdate>;

/** Body of the origin agent's `POST /scores`: the agent assigns seq. */
export const ScoreInput = z.object({
  score: BilliardsScore,
  /** Optional media time; the agent uses its current video time when absent. */
  mediaTime: z.number().min(0).optional(),
});
export type ScoreInput = z.infer<typeof ScoreInput>;

/** The stream's last accepted update as a new publisher of scores needs it: where to continue. */
export const ScorePosition = z.object({ epoch: ScoreEpoch, seq: z.number().int().min(0) });
export type ScorePosition = z.infer<typeof ScorePosition>;

/** WHIP 201 header with the stream's ScorePosition on that ingest: `epoch=<n>, seq=<n>`. */
export const LAST_SCORE_HEADER = 'Matchmesh-Last-Score';

export function formatScorePosition(p: ScorePosition): string {
  return `epoch=${p.epoch}, seq=${p.seq}`;
}

export function parseScorePosition(header: string | null | undefined): ScorePosition | undefined {
  const m = /^\s*epoch=(\d+)\s*,\s*seq=(\d+)\s*$/.exec(header ?? '');
  return m ? { epoch: Number(m[1]), seq: Number(m[2]) } : undefined;
}

/**
 * `POST /api/v1/streams/:stream/scores` (publisher token): a score from a
 * publisher that is not the origin agent (OBS, a hardware encoder, the venue's
 * scoring system). Idempotent by (epoch, seq). Without `mediaTime` the ingest
 * stamps the media time of the newest video frame it has forwarded.
 */
export const ScorePost = z.object({
  epoch: ScoreEpoch,
  seq: z.number().int().min(1),
  mediaTime: z.number().min(0).optional(),
  sentAt: z.number().int().min(0).optional(),
  score: BilliardsScore,
});
export type ScorePost = z.infer<typeof ScorePost>;

/** The answer: the update as viewers get it; `duplicate` when this (epoch, seq) was already taken. */
export const ScorePostResponse = z.object({ duplicate: z.boolean(), update: ScoreUpdate });

/** `GET /api/v1/streams/:stream/scores/latest`: where the stream's scores stand on this ingest. */
export const ScoreLatestResponse = z.object({
  stream: StreamId,
  position: ScorePosition,
  update: ScoreUpdate.nullable(),
});

const RTP_WRAP = 2 ** 32;

/**
 * mediaTime (ms) of a WebRTC video frame from its RTP timestamp: the origin
 * writes 90 kHz ticks since frame 0 into the timestamp (apps/origin
 * MediaClock), which the mesh forwards unchanged. The 32-bit timestamp wraps
 * every 13.3 h; the wrap nearest `hintMs` (a mediaTime known to be close,
 * e.g. the latest score's) is taken.
 */
export function rtpMediaTime(rtpTimestamp: number, hintMs: number, clockRate = 90_000): number {
  const hintTicks = (hintMs * clockRate) / 1000;
  const wraps = Math.round((hintTicks - rtpTimestamp) / RTP_WRAP);
  return ((rtpTimestamp + Math.max(0, wraps) * RTP_WRAP) * 1000) / clockRate;
}

/** Label of the DataChannel / DataProducer that carries scores. */
export const SCORE_CHANNEL_LABEL = 'scores';

/** Parse a DataChannel message into a ScoreUpdate, or explain why not. */
export function parseScoreMessage(raw: string): ReturnType<typeof ScoreUpdate.safeParse> {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return ScoreUpdate.safeParse(undefined);
  }
  return ScoreUpdate.safeParse(json);
}
