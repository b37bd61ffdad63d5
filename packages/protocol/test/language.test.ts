import { describe, expect, it } from 'vitest';
import { canonicalLanguage, LanguageTag, signToken, verifyToken } from '../src/index.ts';

const SECRET = 'a-test-secret-of-some-length';

describe('commentary language tags', () => {
  it('accepts BCP 47 tags and canonicalises them', () => {
    for (const tag of ['en', 'es', 'pt-BR', 'zh-Hant', 'EN-gb']) expect(LanguageTag.safeParse(tag).success).toBe(true);
    expect(canonicalLanguage('EN-gb')).toBe('en-GB');
  });

  it('refuses what is not BCP 47', () => {
    for (const tag of ['e', 'en_GB', '12', 'en-GB!', '', 'x'.repeat(40)]) {
      expect(LanguageTag.safeParse(tag).success, tag).toBe(false);
    }
  });

  it("carries a commentator token's language, and refuses a malformed one at signing", async () => {
    const token = await signToken(SECRET, { role: 'commentator', stream: 'm', lang: 'es' });
    expect((await verifyToken(SECRET, token)).lang).toBe('es');
    await expect(signToken(SECRET, { role: 'commentator', stream: 'm', lang: 'es_ES' })).rejects.toThrow();
  });
});
