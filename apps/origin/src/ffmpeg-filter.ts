/* ffmpeg filtergraph syntax: one filter with its options, quoted so any text survives both parsing passes. */

/**
 * Quote a filter option value. The filtergraph parser keeps quoted text
 * literally; the option parser then unescapes `\:` and `\,`. drawtext's
 * `%{fn:arg}` expansion needs real colons after that second pass.
 */
function q(value: string): string {
  if (value.includes("'")) throw new Error('filter values must not contain single quotes');
  return `'${value.replace(/\\/g, '\\\\').replace(/[:,]/g, (m) => `\\${m}`)}'`;
}

export function filter(name: string, opts: Record<string, string | number>): string {
  const args = Object.entries(opts)
    .map(([k, v]) => `${k}=${typeof v === 'number' ? v : q(v)}`)
    .join(':');
  return `${name}=${args}`;
}

export function box(x: number, y: number, w: number, h: number, color: string, enable?: string): string {
  const opts: Record<string, string | number> = { x, y, w, h, color, t: 'fill' };
  if (enable) opts.enable = enable;
  return filter('drawbox', opts);
}
