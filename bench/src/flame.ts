// Folded stacks and a flame graph SVG from `perf script` text (no dependencies).
//
// Folded format (one line per distinct stack, root first, then the sample
// count): `mediasoup-worker;main;uv_run;...;leaf 42` — what flame graph tools
// read. The top of the profile by self time (the leaf frame of each sample) is
// what tells where the worker's CPU goes.

export type Folded = Map<string, number>;

/**
 * `RTC::Foo::Bar(Packet*, int) const+0x1a` → `RTC::Foo::Bar`; unknown symbols keep their
 * DSO; kernel frames get `_[k]` (the flame graph convention) so user and kernel time part.
 */
export function frameName(sym: string, dso: string): string {
  let s = sym.trim().replace(/\+0x[0-9a-f]+$/i, '');
  if (!s || s === '[unknown]') return `[${dso.split('/').pop() || 'unknown'}]`;
  s = s.replace(/\(anonymous namespace\)/g, '{anon}');
  const paren = s.indexOf('(');
  if (paren > 0) s = s.slice(0, paren);
  s = s.replace(/;/g, ':');
  return dso.includes('kernel.kallsyms') ? `${s}_[k]` : s;
}

/**
 * Parses `perf script -F comm,ip,sym,dso` output: a header line per sample,
 * then its frames leaf first (`\t addr sym (dso)`), then a blank line.
 */
export function foldPerfScript(text: string): Folded {
  const folded: Folded = new Map();
  let comm = '';
  let frames: string[] = [];
  const flush = () => {
    if (comm) {
      const key = [comm, ...frames.reverse()].join(';');
      folded.set(key, (folded.get(key) ?? 0) + 1);
    }
    comm = '';
    frames = [];
  };
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      flush();
      continue;
    }
    const m = /^\s+[0-9a-f]+\s+(.*?)\s+\(([^)]*)\)\s*$/.exec(line);
    if (m && comm) frames.push(frameName(m[1]!, m[2]!));
    else if (!/^\s/.test(line)) {
      flush();
      comm = line.trim().split(/\s+/)[0]!.replace(/;/g, ':');
    }
  }
  flush();
  return folded;
}

export function foldedText(folded: Folded): string {
  return [...folded].map(([k, v]) => `${k} ${v}`).join('\n') + '\n';
}

export interface SelfRow {
  symbol: string;
  samples: number;
  pct: number;
}

/** Self time per leaf frame, largest first. */
export function selfTop(folded: Folded, limit = 15): { total: number; rows: SelfRow[] } {
  const self = new Map<string, number>();
  let total = 0;
  for (const [stack, n] of folded) {
    const leaf = stack.slice(stack.lastIndexOf(';') + 1);
    self.set(leaf, (self.get(leaf) ?? 0) + n);
    total += n;
  }
  const rows = [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([symbol, samples]) => ({ symbol, samples, pct: total > 0 ? (100 * samples) / total : 0 }));
  return { total, rows };
}

/** Share of samples whose stack contains a frame matching `re` (inclusive time). */
export function inclusivePct(folded: Folded, re: RegExp): number {
  let hit = 0;
  let total = 0;
  for (const [stack, n] of folded) {
    total += n;
    if (stack.split(';').some((f) => re.test(f))) hit += n;
  }
  return total > 0 ? (100 * hit) / total : 0;
}

interface Node {
  name: string;
  value: number;
  children: Map<string, Node>;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Kernel frames orange, libc/libs green, the worker blue: where a sample's time is spent at a glance. */
function color(name: string): string {
  let h = 0;
  for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0;
  const v = 40 + (h % 40);
  if (name.endsWith('_[k]')) return `rgb(230,${100 + v},40)`;
  if (name.startsWith('[') || /^(lib|srtp|aes|EVP|CRYPTO|NSS|PK11|memcpy|memmove|malloc|free|operator)/.test(name))
    return `rgb(${60 + v},180,${60 + v})`;
  return `rgb(${60 + v},${120 + v},220)`;
}

/** A classic flame graph: root at the bottom, width = samples, hover for the count. */
export function flameSvg(folded: Folded, title: string, width = 1200): string {
  const root: Node = { name: 'all', value: 0, children: new Map() };
  for (const [stack, n] of folded) {
    root.value += n;
    let node = root;
    for (const f of stack.split(';')) {
      let c = node.children.get(f);
      if (!c) {
        c = { name: f, value: 0, children: new Map() };
        node.children.set(f, c);
      }
      c.value += n;
      node = c;
    }
  }
  const rowH = 16;
  const minPx = 0.5;
  const rects: string[] = [];
  let maxDepth = 0;
  const scale = root.value > 0 ? (width - 20) / root.value : 0;
  const walk = (node: Node, depth: number, x: number) => {
    maxDepth = Math.max(maxDepth, depth);
    rects.push(rect(node, depth, x));
    let cx = x;
    for (const c of [...node.children.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (c.value * scale >= minPx) walk(c, depth + 1, cx);
      cx += c.value * scale;
    }
  };
  const rect = (node: Node, depth: number, x: number): string => {
    const w = node.value * scale;
    const pct = root.value > 0 ? ((100 * node.value) / root.value).toFixed(2) : '0';
    const label = w > 40 ? esc(node.name.slice(0, Math.floor(w / 7))) : '';
    return `<g data-depth="${depth}"><title>${esc(node.name)} (${node.value} samples, ${pct} %)</title><rect x="${(10 + x).toFixed(1)}" y="Y${depth}" width="${w.toFixed(1)}" height="${rowH - 1}" fill="${color(node.name)}" rx="2"/>${label ? `<text x="${(13 + x).toFixed(1)}" y="T${depth}">${label}</text>` : ''}</g>`;
  };
  walk(root, 0, 0);
  const height = (maxDepth + 1) * rowH + 50;
  const body = rects
    .join('\n')
    .replace(/y="Y(\d+)"/g, (_, d: string) => `y="${height - 10 - (Number(d) + 1) * rowH}"`)
    .replace(/y="T(\d+)"/g, (_, d: string) => `y="${height - 10 - (Number(d) + 1) * rowH + 12}"`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="monospace" font-size="11">
<rect width="${width}" height="${height}" fill="#fafafa"/>
<text x="10" y="22" font-family="sans-serif" font-size="15" font-weight="bold">${esc(title)}</text>
${body}
</svg>
`;
}
