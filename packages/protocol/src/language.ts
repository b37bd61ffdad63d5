import { z } from 'zod';

/** The canonical form of a BCP 47 tag ("EN-gb" → "en-GB"), or undefined when it is not one. */
export function canonicalLanguage(tag: string): string | undefined {
  try {
    // The platform's own parser (Node and browsers alike): a RangeError on a malformed tag.
    return Intl.getCanonicalLocales(tag)[0];
  } catch {
    return undefined;
  }
}

/**
 * A commentary language: a BCP 47 tag ("en", "es", "pt-BR", "zh-Hant"). Checked,
 * not transformed (the HTTP schemas become JSON Schema); compare tags through
 * canonicalLanguage so "EN-gb" and "en-GB" name one track.
 */
export const LanguageTag = z
  .string()
  .min(2)
  .max(35)
  .refine((tag) => canonicalLanguage(tag) !== undefined, { message: 'not a BCP 47 language tag' });
export type LanguageTag = z.infer<typeof LanguageTag>;

/** The language a stream's viewers hear when they chose none (MM_COMMENTARY_DEFAULT_LANG). */
export const DEFAULT_COMMENTARY_LANGUAGE = 'en';

/** Display name of a language tag in the viewer's own language ("Español" for es), the tag if unknown. */
export function languageName(tag: string, inLocale?: string): string {
  try {
    return new Intl.DisplayNames([inLocale ?? tag], { type: 'language' }).of(tag) ?? tag;
  } catch {
    return tag;
  }
}
