import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { CLUSTER_ERROR_CODES, type ClusterErrorCode } from './errors.ts';

/*
 * Wire format of NodeBus messages: `{"b":"<body JSON>","s":"<hex HMAC>"}`.
 *
 * The HMAC covers the body *string* exactly as sent, so there is no JSON
 * canonicalisation to get wrong: verify the bytes first, parse them second.
 * The body carries the cluster name and a timestamp, so a signature also
 * binds the message to one cluster and to a point in time (replays of old
 * messages are refused by the receiver's clock-skew window).
 */

/** Domain separation: the bus secret may be shared with other uses. */
const HMAC_CONTEXT = 'matchmesh-bus-v1\n';

/** Larger messages are dropped unread: the bus carries control data only. */
export const MAX_MESSAGE_BYTES = 256 * 1024;

const Base = {
  v: z.literal(1),
  cluster: z.string().min(1).max(64),
  id: z.string().min(1).max(128),
  from: z.string().min(1).max(64),
  to: z.string().min(1).max(64),
  ts: z.number().int(),
};

export const RequestBody = z.object({
  ...Base,
  kind: z.literal('req'),
  method: z.string().min(1).max(64),
  payload: z.unknown(),
});
export type RequestBody = z.infer<typeof RequestBody>;

export const ResponseBody = z.object({
  ...Base,
  kind: z.literal('res'),
  ok: z.boolean(),
  result: z.unknown().optional(),
  error: z
    .object({
      code: z.enum(CLUSTER_ERROR_CODES as [ClusterErrorCode, ...ClusterErrorCode[]]),
      message: z.string().max(2000),
    })
    .optional(),
});
export type ResponseBody = z.infer<typeof ResponseBody>;

export const MessageBody = z.discriminatedUnion('kind', [RequestBody, ResponseBody]);
export type MessageBody = z.infer<typeof MessageBody>;

const Envelope = z.object({ b: z.string(), s: z.string().regex(/^[0-9a-f]{64}$/) });

export function sign(secret: string, body: string): string {
  return createHmac('sha256', secret).update(HMAC_CONTEXT).update(body).digest('hex');
}

export function encodeMessage(secret: string, body: MessageBody): string {
  const b = JSON.stringify(body);
  return JSON.stringify({ b, s: sign(secret, b) });
}

export type DecodeResult =
  | { ok: true; body: MessageBody }
  | { ok: false; reason: 'too-large' | 'malformed' | 'bad-signature'; detail: string };

/** Verify then parse. Never throws: every failure is a reason to drop. */
export function decodeMessage(secret: string, raw: string): DecodeResult {
  if (raw.length > MAX_MESSAGE_BYTES) {
    return { ok: false, reason: 'too-large', detail: `${raw.length} bytes` };
  }
  let outer: unknown;
  try {
    outer = JSON.parse(raw);
  } catch {
    return { ok: false, reason: 'malformed', detail: 'not JSON' };
  }
  const env = Envelope.safeParse(outer);
  if (!env.success) return { ok: false, reason: 'malformed', detail: 'not a signed envelope' };
  const expected = Buffer.from(sign(secret, env.data.b), 'hex');
  const actual = Buffer.from(env.data.s, 'hex');
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) {
    return { ok: false, reason: 'bad-signature', detail: 'HMAC mismatch' };
  }
  let inner: unknown;
  try {
    inner = JSON.parse(env.data.b);
  } catch {
    return { ok: false, reason: 'malformed', detail: 'body is not JSON' };
  }
  const body = MessageBody.safeParse(inner);
  if (!body.success) {
    return { ok: false, reason: 'malformed', detail: body.error.issues.map((i) => i.message).join('; ') };
  }
  return { ok: true, body: body.data };
}
