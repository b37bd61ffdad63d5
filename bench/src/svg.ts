// A hand-written SVG line chart (no dependencies): enough for scaling curves.
export interface Series {
  name: string;
  color: string;
  points: Array<[number, number]>;
}

export interface ChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** Horizontal reference lines, e.g. a loss budget. */
  marks?: Array<{ y: number; label: string }>;
  yMax?: number;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

export function lineChart(spec: ChartSpec, width = 720, height = 420): string {
  const m = { l: 70, r: 170, t: 40, b: 50 };
  const w = width - m.l - m.r;
  const h = height - m.t - m.b;
  const all = spec.series.flatMap((s) => s.points);
  const xMax = niceMax(Math.max(1, ...all.map((p) => p[0])));
  const yMax = spec.yMax ?? niceMax(Math.max(1e-9, ...all.map((p) => p[1]), ...(spec.marks ?? []).map((k) => k.y)));
  const X = (x: number) => m.l + (x / xMax) * w;
  const Y = (y: number) => m.t + h - (Math.min(y, yMax) / yMax) * h;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${m.l}" y="22" font-size="15" font-weight="bold">${esc(spec.title)}</text>`,
  ];
  for (let i = 0; i <= 5; i++) {
    const yv = (yMax * i) / 5;
    const xv = (xMax * i) / 5;
    out.push(
      `<line x1="${m.l}" x2="${m.l + w}" y1="${Y(yv)}" y2="${Y(yv)}" stroke="#ddd"/>`,
      `<text x="${m.l - 6}" y="${Y(yv) + 4}" text-anchor="end">${+yv.toPrecision(3)}</text>`,
      `<line x1="${X(xv)}" x2="${X(xv)}" y1="${m.t}" y2="${m.t + h}" stroke="#eee"/>`,
      `<text x="${X(xv)}" y="${m.t + h + 16}" text-anchor="middle">${+xv.toPrecision(4)}</text>`,
    );
  }
  out.push(
    `<rect x="${m.l}" y="${m.t}" width="${w}" height="${h}" fill="none" stroke="#888"/>`,
    `<text x="${m.l + w / 2}" y="${height - 12}" text-anchor="middle">${esc(spec.xLabel)}</text>`,
    `<text transform="translate(18 ${m.t + h / 2}) rotate(-90)" text-anchor="middle">${esc(spec.yLabel)}</text>`,
  );
  for (const k of spec.marks ?? []) {
    out.push(
      `<line x1="${m.l}" x2="${m.l + w}" y1="${Y(k.y)}" y2="${Y(k.y)}" stroke="#c00" stroke-dasharray="5 4"/>`,
      `<text x="${m.l + w - 4}" y="${Y(k.y) - 4}" text-anchor="end" fill="#c00">${esc(k.label)}</text>`,
    );
  }
  spec.series.forEach((s, i) => {
    const pts = s.points.map(([x, y]) => `${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join(' ');
    out.push(`<polyline points="${pts}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    for (const [x, y] of s.points)
      out.push(`<circle cx="${X(x).toFixed(1)}" cy="${Y(y).toFixed(1)}" r="3" fill="${s.color}"/>`);
    const ly = m.t + 10 + i * 20;
    out.push(
      `<line x1="${m.l + w + 12}" x2="${m.l + w + 32}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"/>`,
      `<text x="${m.l + w + 38}" y="${ly + 4}">${esc(s.name)}</text>`,
    );
  });
  out.push('</svg>');
  return out.join('\n');
}

/** Several charts stacked vertically in one SVG file. */
export function stack(svgs: string[], width = 720, height = 420): string {
  const inner = svgs.map(
    (s, i) => `<g transform="translate(0 ${i * height})">${s.replace(/^<svg[^>]*>/, '').replace(/<\/svg>$/, '')}</g>`,
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height * svgs.length}" font-family="sans-serif" font-size="12">\n${inner.join('\n')}\n</svg>\n`;
}
