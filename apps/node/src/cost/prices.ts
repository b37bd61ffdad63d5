import { RegionName } from '@matchmesh/protocol';
import { z } from 'zod';

/** A price per GB: finite, not negative, at most a (generous) 10 USD. */
const UsdPerGb = z.coerce.number().finite().min(0).max(10);

/**
 * `MM_REGION_USD_PER_GB`: `eu=0.02,asia=0.09` — what a GB leaving each region
 * costs at the provider there. Regions not listed cost MM_EGRESS_USD_PER_GB.
 * Spaces around entries are allowed; a region listed twice, a bad region name
 * or a price that is not a number is a configuration error naming the entry.
 */
export const RegionPrices = z
  .string()
  .default('')
  .transform((text, ctx) => {
    const prices: Record<string, number> = {};
    for (const entry of text
      .split(',')
      .map((e) => e.trim())
      .filter(Boolean)) {
      const [name, price, ...rest] = entry.split('=').map((s) => s.trim());
      const region = RegionName.safeParse(name);
      const usd = UsdPerGb.safeParse(price === '' ? undefined : price);
      if (rest.length > 0 || !region.success || !usd.success) {
        ctx.addIssue({
          code: 'custom',
          message: `"${entry}": expected <region>=<USD per GB> (e.g. eu=0.02), region in lowercase letters, digits and "-", price 0 to 10`,
        });
        return z.NEVER;
      }
      if (region.data in prices) {
        ctx.addIssue({ code: 'custom', message: `region "${region.data}" is priced twice` });
        return z.NEVER;
      }
      prices[region.data] = usd.data;
    }
    return prices;
  });

export { UsdPerGb };

/** Prices as the cost figures take them. */
export interface PriceConfig {
  /** MM_REGION_USD_PER_GB. */
  regionUsdPerGb: Record<string, number>;
  /** MM_EGRESS_USD_PER_GB: regions not listed above. */
  defaultUsdPerGb: number;
  /** MM_CDN_USD_PER_GB: the comparison. */
  cdnUsdPerGb: number;
}

/** The price of a GB leaving `region`. */
export function regionUsdPerGb(prices: PriceConfig, region: string): number {
  return Object.hasOwn(prices.regionUsdPerGb, region) ? prices.regionUsdPerGb[region]! : prices.defaultUsdPerGb;
}
