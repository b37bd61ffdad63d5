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
 * One score update. `seq` is per stream, starts at 1 and increases by exactly
 * one per update: that is what lets the ingest drop duplicates and lets a
 * viewer prove it saw every update in order. `mediaTime` is the presentation
 * time of the video frame the update belongs to, in milliseconds since the
 * stream's epoch (frame n of a 30 fps stream is n * 1000 / 30).
 */
export const ScoreUpdate = z.object({
  stream: StreamId,
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
