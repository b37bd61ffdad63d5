import { z } from 'zod';

/**
 * A stream id appears in URLs, Redis keys and file paths, so it is kept to a
 * conservative alphabet: no dots, no slashes, nothing that needs escaping.
 */
export const StreamId = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, 'stream id: letters, digits, "-" and "_" only');
export type StreamId = z.infer<typeof StreamId>;

/** Region names are free-form but URL- and key-safe (eu, asia, us-east...). */
export const RegionName = z
  .string()
  .min(1)
  .max(32)
  .regex(/^[a-z0-9][a-z0-9-]*$/, 'region: lowercase letters, digits and "-" only');
export type RegionName = z.infer<typeof RegionName>;

/** mediasoup object ids are UUIDs; we only check shape, never trust them. */
export const ObjectId = z.string().min(1).max(64);
