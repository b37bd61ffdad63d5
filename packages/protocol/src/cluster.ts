import { z } from 'zod';
import { RegionName } from './ids.ts';

export const NodeRole = z.enum(['ingest', 'relay']);
export type NodeRole = z.infer<typeof NodeRole>;

/** What a node says about itself in the registry (Redis), refreshed on every heartbeat. */
export const NodeRecord = z.object({
  id: z.string().min(1).max(64),
  region: RegionName,
  roles: z.array(NodeRole).min(1),
  /** Base URL of the node's HTTP/WebSocket server, e.g. http://127.0.0.1:8080 */
  url: z.string().url(),
  /** Public IP the node announces in ICE candidates and pipe transports. */
  mediaAddress: z.string(),
  capacity: z.object({ viewers: z.number().int().min(0) }),
  load: z.object({
    viewers: z.number().int().min(0),
    streams: z.number().int().min(0),
    bitrateOut: z.number().min(0),
    workerCpu: z.number().min(0),
  }),
  draining: z.boolean(),
  startedAt: z.number().int(),
  heartbeatAt: z.number().int(),
});
export type NodeRecord = z.infer<typeof NodeRecord>;
