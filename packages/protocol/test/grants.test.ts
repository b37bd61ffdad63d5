import { describe, expect, it } from 'vitest';
import { grants } from '../src/token-codec.ts';
import type { Role } from '../src/tokens.ts';

const claims = (role: Role, stream = '*') => ({ role, stream });

describe('grants: what each role may do', () => {
  it('a metrics token reads /metrics and nothing else', () => {
    const m = claims('metrics');
    expect(grants(m, 'metrics', '*')).toBe(true);
    for (const role of ['admin', 'viewer', 'commentator', 'publisher', 'node'] as const) {
      expect(grants(m, role, 'match'), role).toBe(false);
    }
  });

  it('an admin token administers, watches and reads metrics — it never publishes, commentates or acts as a node', () => {
    const a = claims('admin');
    for (const role of ['admin', 'viewer', 'metrics'] as const) expect(grants(a, role, 'match'), role).toBe(true);
    expect(grants(a, ['viewer', 'commentator'], 'match')).toBe(true); // watching, where either may watch
    for (const role of ['publisher', 'commentator', 'node'] as const)
      expect(grants(a, role, 'match'), role).toBe(false);
  });

  it('the other roles grant themselves on their own stream only', () => {
    expect(grants(claims('publisher', 'match'), 'publisher', 'match')).toBe(true);
    expect(grants(claims('publisher', 'match'), 'publisher', 'other')).toBe(false);
    expect(grants(claims('viewer', 'match'), ['viewer', 'commentator'], 'match')).toBe(true);
    expect(grants(claims('viewer', 'match'), 'commentator', 'match')).toBe(false);
    expect(grants(claims('commentator', 'match'), ['viewer', 'commentator'], 'match')).toBe(true);
    expect(grants(claims('viewer', 'match'), 'metrics', '*')).toBe(false);
  });
});
