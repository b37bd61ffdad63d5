import { describe, expect, it } from 'vitest';
import { PIPE_RTX_ENV, PIPE_RTX_MAX_AGE_AUTO, pipeRtxWorkerEnv, withWorkerEnv } from '../src/pipeRtxAge.ts';

describe('pipe retransmission age bound: the worker environment', () => {
  it('gives the patched worker both parts of the bound, or neither when it is off', () => {
    expect(pipeRtxWorkerEnv(PIPE_RTX_MAX_AGE_AUTO)).toEqual({
      MATCHMESH_PIPE_RTX_MAX_AGE_MS: '50',
      MATCHMESH_PIPE_RTX_MAX_AGE_RTT: '1.5',
    });
    expect(pipeRtxWorkerEnv({ fixedMs: 350, rttFactor: 0 })).toEqual({
      MATCHMESH_PIPE_RTX_MAX_AGE_MS: '350',
      MATCHMESH_PIPE_RTX_MAX_AGE_RTT: '0',
    });
    const off = { MATCHMESH_PIPE_RTX_MAX_AGE_MS: undefined, MATCHMESH_PIPE_RTX_MAX_AGE_RTT: undefined };
    expect(pipeRtxWorkerEnv(undefined)).toEqual(off);
    expect(pipeRtxWorkerEnv({ fixedMs: 0, rttFactor: 0 })).toEqual(off);
  });

  it('sets the variables only while the worker is spawned, then restores process.env as it was', () => {
    process.env[PIPE_RTX_ENV.fixedMs] = 'left by the operator';
    delete process.env[PIPE_RTX_ENV.rttFactor];
    try {
      const seen = withWorkerEnv(pipeRtxWorkerEnv({ fixedMs: 300, rttFactor: 1 }), () => ({
        fixed: process.env[PIPE_RTX_ENV.fixedMs],
        rtt: process.env[PIPE_RTX_ENV.rttFactor],
      }));
      expect(seen).toEqual({ fixed: '300', rtt: '1' });
      expect(process.env[PIPE_RTX_ENV.fixedMs]).toBe('left by the operator');
      expect(PIPE_RTX_ENV.rttFactor in process.env).toBe(false);
      // Off: a stray variable in the node's environment does not reach the worker.
      const offSeen = withWorkerEnv(pipeRtxWorkerEnv(undefined), () => process.env[PIPE_RTX_ENV.fixedMs]);
      expect(offSeen).toBeUndefined();
      expect(() =>
        withWorkerEnv(pipeRtxWorkerEnv(PIPE_RTX_MAX_AGE_AUTO), () => {
          throw new Error('spawn failed');
        }),
      ).toThrow('spawn failed');
      expect(process.env[PIPE_RTX_ENV.fixedMs]).toBe('left by the operator');
    } finally {
      delete process.env[PIPE_RTX_ENV.fixedMs];
    }
  });
});
