/**
 * @matchmesh/protocol — the single source of truth for every message that
 * crosses a process boundary: signaling over WebSocket, HTTP bodies, score
 * updates on the DataChannel, token claims and cluster records.
 *
 * Everything is a zod schema first and a TypeScript type second, so the edge
 * that receives a message validates it with the same definition the sender
 * was typed against.
 */

export * from './backoff.ts';
export * from './booth.ts';
export * from './cluster.ts';
export * from './cost.ts';
export * from './hls.ts';
export * from './http.ts';
export * from './ids.ts';
export * from './language.ts';
export * from './logger.ts';
export * from './mesh.ts';
export * from './ops.ts';
export * from './ops-live.ts';
export * from './problem.ts';
export * from './reports.ts';
export * from './rtc-params.ts';
export * from './scores.ts';
export * from './session.ts';
export * from './signaling.ts';
export * from './signing-keys.ts';
export * from './token-codec.ts';
export * from './tokens.ts';
