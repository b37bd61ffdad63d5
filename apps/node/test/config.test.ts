import { DEFAULT_LAYER_GOVERNOR } from '@matchmesh/sfu';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, VIEWERS_PER_WORKER } from '../src/config.ts';

const secret = 'x'.repeat(32);

describe('config sections', () => {
  it('defaults: the same variables and defaults, grouped by concern', () => {
    const c = loadConfig({ MM_TOKEN_SECRET: secret, MM_REGION: 'eu', MM_NODE_ID: 'n1' });
    expect(c.node).toEqual({ id: 'n1', region: 'eu', roles: ['ingest', 'relay'], logLevel: 'info' });
    expect(c.http).toMatchObject({ host: '127.0.0.1', port: 8080, publicUrl: undefined });
    expect(c.http.webDist).toMatch(/apps\/web\/dist$/);
    expect(c.rtc).toMatchObject({ listenIp: '127.0.0.1', basePort: 44400, minPort: 45000, maxPort: 45999 });
    expect(c.rtc.ice).toEqual({ urls: [], turnSecret: undefined, ttlSeconds: 3600 });
    expect(c.mesh).toEqual({
      claimTtlMs: 10_000,
      pipeLingerMs: 30_000,
      sweepMs: 2000,
      pipe: {
        ip: '127.0.0.1',
        announcedAddress: undefined,
        portRange: { min: 45000, max: 45999 },
        socketBufferBytes: 4 * 1024 * 1024,
      },
      dualPathRegions: [],
    });
    expect(c.program).toEqual({
      silenceMs: 300,
      lagMs: 150,
      returnAfterMs: 5000,
      graceMs: 15_000,
      feedWindow: 3,
      takeoverSilenceMs: 1000,
      simulcastMaxLayers: 3,
      keyFrameIntervalMs: 600,
    });
    expect(c.hls).toMatchObject({ lingerMs: 60_000, partMs: 200, segmentMs: 1000, targetDuration: 2, always: [] });
    expect(c.hls.rootDir).toMatch(/matchmesh-hls\/n1$/);
    expect(c.cluster).toMatchObject({ name: 'matchmesh', heartbeatMs: 2000, secret: `cluster:${secret}` });
    expect(c.cluster.capacityViewers).toBe(VIEWERS_PER_WORKER * c.rtc.workers);
    expect(c.cluster.capacityViewersPerWorker).toBe(VIEWERS_PER_WORKER);
    expect(c.tokens).toEqual({ bootstrapSecret: secret, keysRefreshMs: 30_000 });
  });

  it('each variable lands in its section', () => {
    const c = loadConfig({
      MM_TOKEN_SECRET: secret,
      MM_REGION: 'asia',
      MM_ROLES: 'relay',
      MM_ANNOUNCED_ADDRESS: '203.0.113.5',
      MM_MESH_ADDRESS: '10.0.0.5',
      MM_ICE_SERVERS: 'stun:a:3478, turn:b:3478',
      MM_HLS_ALWAYS: 'final,*',
      MM_SOURCE_SILENCE_MS: '400',
      MM_CLUSTER_SECRET: 'y'.repeat(16),
      MM_PUBLIC_URL: 'https://edge.example',
    });
    expect(c.node.roles).toEqual(['relay']);
    expect(c.rtc.announcedAddress).toBe('203.0.113.5');
    expect(c.mesh.pipe.announcedAddress).toBe('10.0.0.5');
    expect(c.rtc.ice.urls).toEqual(['stun:a:3478', 'turn:b:3478']);
    expect(c.hls.always).toEqual(['final', '*']);
    expect(c.program.silenceMs).toBe(400);
    expect(c.cluster.secret).toBe('y'.repeat(16));
    expect(c.http.publicUrl).toBe('https://edge.example');
  });

  it('capacity: per worker, and the node total defaults to it × workers unless set', () => {
    const base = { MM_TOKEN_SECRET: secret, MM_REGION: 'eu', MM_WORKERS: '4' };
    expect(loadConfig({ ...base, MM_CAPACITY_VIEWERS_PER_WORKER: '120' }).cluster).toMatchObject({
      capacityViewersPerWorker: 120,
      capacityViewers: 480,
    });
    expect(
      loadConfig({ ...base, MM_CAPACITY_VIEWERS_PER_WORKER: '120', MM_CAPACITY_VIEWERS: '300' }).cluster,
    ).toMatchObject({
      capacityViewersPerWorker: 120,
      capacityViewers: 300,
    });
    expect(loadConfig(base).cluster.capacityViewers).toBe(VIEWERS_PER_WORKER * 4);
    for (const bad of ['0', '-5', '1.5', 'many']) {
      expect(() => loadConfig({ ...base, MM_CAPACITY_VIEWERS_PER_WORKER: bad })).toThrow(
        /MM_CAPACITY_VIEWERS_PER_WORKER/,
      );
    }
  });

  it('MM_SIMULCAST_MAX_LAYERS: 1 to 8 layers, default 3', () => {
    const base = { MM_TOKEN_SECRET: secret, MM_REGION: 'eu' };
    expect(loadConfig({ ...base, MM_SIMULCAST_MAX_LAYERS: '4' }).program.simulcastMaxLayers).toBe(4);
    for (const bad of ['0', '9', '2.5', 'all']) {
      expect(() => loadConfig({ ...base, MM_SIMULCAST_MAX_LAYERS: bad })).toThrow(/MM_SIMULCAST_MAX_LAYERS/);
    }
  });

  it("MM_LAYER_*: the sfu's DEFAULT_LAYER_GOVERNOR by default; the max hold never below the first; bad values refused", () => {
    const base = { MM_TOKEN_SECRET: secret, MM_REGION: 'eu' };
    expect(loadConfig(base).layerGovernor).toEqual(DEFAULT_LAYER_GOVERNOR);
    expect(
      loadConfig({ ...base, MM_LAYER_HOLD_MS: '3000', MM_LAYER_HOLD_MAX_MS: '8000', MM_LAYER_STEP: 'below' })
        .layerGovernor,
    ).toEqual({ holdMs: 3000, maxHoldMs: 8000, stepTo: 'below', climbAssist: true });
    expect(loadConfig({ ...base, MM_LAYER_CLIMB_ASSIST: 'false' }).layerGovernor.climbAssist).toBe(false);
    expect(loadConfig({ ...base, MM_LAYER_HOLD_MS: '5000' }).layerGovernor.maxHoldMs).toBe(5000);
    expect(() => loadConfig({ ...base, MM_LAYER_HOLD_MS: '-1' })).toThrow(/MM_LAYER_HOLD_MS/);
    expect(() => loadConfig({ ...base, MM_LAYER_STEP: 'two' })).toThrow(/MM_LAYER_STEP/);
    expect(() => loadConfig({ ...base, MM_LAYER_CLIMB_ASSIST: 'yes' })).toThrow(/MM_LAYER_CLIMB_ASSIST/);
  });

  it("MM_VIEWER_PLAYOUT_DELAY_MS: 'auto' by default, or a fixed 0–4000 ms", () => {
    const base = { MM_TOKEN_SECRET: secret, MM_REGION: 'eu' };
    expect(loadConfig(base).rtc.viewerPlayoutDelayMs).toBe('auto');
    expect(loadConfig({ ...base, MM_VIEWER_PLAYOUT_DELAY_MS: 'auto' }).rtc.viewerPlayoutDelayMs).toBe('auto');
    expect(loadConfig({ ...base, MM_VIEWER_PLAYOUT_DELAY_MS: '400' }).rtc.viewerPlayoutDelayMs).toBe(400);
    expect(loadConfig({ ...base, MM_VIEWER_PLAYOUT_DELAY_MS: '0' }).rtc.viewerPlayoutDelayMs).toBe(0);
    for (const bad of ['-1', '4001', '2.5', 'fast']) {
      expect(() => loadConfig({ ...base, MM_VIEWER_PLAYOUT_DELAY_MS: bad })).toThrow(/MM_VIEWER_PLAYOUT_DELAY_MS/);
    }
  });

  it("MM_PIPE_RTX_MAX_AGE_MS: 0 (off) by default, 'auto' or a fixed bound up to 2000 ms, with the reason", () => {
    const base = { MM_TOKEN_SECRET: secret, MM_REGION: 'eu' };
    expect(loadConfig(base).rtc.pipeRtxMaxAgeMs).toBe(0);
    expect(loadConfig({ ...base, MM_PIPE_RTX_MAX_AGE_MS: 'auto' }).rtc.pipeRtxMaxAgeMs).toBe('auto');
    expect(loadConfig({ ...base, MM_PIPE_RTX_MAX_AGE_MS: '350' }).rtc.pipeRtxMaxAgeMs).toBe(350);
    for (const bad of ['-1', '2001', '2.5', 'fast']) {
      expect(() => loadConfig({ ...base, MM_PIPE_RTX_MAX_AGE_MS: bad })).toThrow(
        /MM_PIPE_RTX_MAX_AGE_MS: must be "auto", 0 \(off\) or a whole number of ms up to 2000/,
      );
    }
  });

  it('REDIS_URL: redis://, rediss:// or a redis-sentinel:// list of sentinels', () => {
    const base = { MM_TOKEN_SECRET: secret, MM_REGION: 'eu' };
    const sentinel = 'redis-sentinel://10.0.0.1:26379,10.0.0.2:26379/matchmesh';
    expect(loadConfig({ ...base, REDIS_URL: sentinel }).cluster.redisUrl).toBe(sentinel);
    expect(loadConfig({ ...base, REDIS_URL: 'rediss://:pw@r:6380' }).cluster.redisUrl).toBe('rediss://:pw@r:6380');
    for (const bad of ['localhost:6379', 'http://r:6379', 'sentinel://a:1/m']) {
      expect(() => loadConfig({ ...base, REDIS_URL: bad })).toThrow(/REDIS_URL/);
    }
  });

  it('MM_DUAL_PATH_REGIONS: critical regions, validated at start-up with the reason', () => {
    const base = { MM_TOKEN_SECRET: secret, MM_REGION: 'asia' };
    expect(loadConfig(base).mesh.dualPathRegions).toEqual([]);
    expect(loadConfig({ ...base, MM_DUAL_PATH_REGIONS: ' asia, oceania ' }).mesh.dualPathRegions).toEqual([
      'asia',
      'oceania',
    ]);
    expect(() => loadConfig({ ...base, MM_DUAL_PATH_REGIONS: 'Asia' })).toThrow(/MM_DUAL_PATH_REGIONS.*region name/);
    expect(() => loadConfig({ ...base, MM_DUAL_PATH_REGIONS: 'asia,asia' })).toThrow(/names a region twice/);
    // A critical region's node must be able to hold its copy.
    expect(() => loadConfig({ ...base, MM_ROLES: 'ingest', MM_DUAL_PATH_REGIONS: 'asia' })).toThrow(
      /MM_DUAL_PATH_REGIONS.*not a relay/,
    );
    expect(loadConfig({ ...base, MM_ROLES: 'ingest', MM_DUAL_PATH_REGIONS: 'oceania' }).mesh.dualPathRegions).toEqual([
      'oceania',
    ]);
  });

  it('bad values are still refused with the variable named', () => {
    expect(() => loadConfig({ MM_TOKEN_SECRET: secret, MM_HTTP_PORT: '70000' })).toThrow(ConfigError);
    expect(() => loadConfig({ MM_TOKEN_SECRET: secret, MM_HTTP_PORT: '70000' })).toThrow(/MM_HTTP_PORT/);
  });
});
