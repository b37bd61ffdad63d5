// Fixed-width table printer for scenario results: numbers right-aligned so
// columns of figures can be compared by eye.
export type Cell = string | number | null | undefined;

export interface Table {
  title: string;
  columns: string[];
  rows: Cell[][];
  notes?: string[];
}

export function fmt(v: Cell, digits = 2): string {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'string') return v;
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return String(v);
  return v.toFixed(Math.abs(v) >= 100 ? 0 : digits);
}

export function renderTable(t: Table): string {
  const cells = t.rows.map((r) => t.columns.map((_, i) => fmt(r[i])));
  const widths = t.columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const out = [`\n== ${t.title} ==`, line(t.columns), widths.map((w) => '-'.repeat(w)).join('  ')];
  for (const r of cells) out.push(line(r));
  for (const n of t.notes ?? []) out.push(`  note: ${n}`);
  return out.join('\n');
}
