/*
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time by function, by package/area, and inclusive
 * time of radotp's own functions. Standalone: node -r ./scripts/ts-register.js bench/profile-summary.ts FILE [topN]
 */
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileRow {
  name: string;
  where: string;
  area: string;
  ms: number;
  pct: number;
}

export interface ProfileSummary {
  file: string;
  window: string;
  wallMs: number;
  sampledMs: number;
  /** Sampled time excluding (idle): what the main thread was busy with. */
  busyMs: number;
  busyPctOfWall: number;
  topSelf: ProfileRow[];
  byArea: { area: string; ms: number; pct: number }[];
  radotpInclusive: ProfileRow[];
}

const REPO = join(__dirname, '..');

function shortUrl(url: string): string {
  let u = url.replace(/^file:\/\//, '');
  if (u.startsWith(REPO)) u = relative(REPO, u);
  return u;
}

/** Where a frame belongs: V8 pseudo-frames, node internals, an npm package, or radotp's own code. */
export function areaOf(cf: CallFrame): string {
  const fn = cf.functionName;
  if (!cf.url) {
    if (fn.startsWith('(')) return fn; // (idle) (program) (garbage collector) (root)
    return '(native/builtin)';
  }
  if (cf.url.startsWith('node:')) return `node:${cf.url.slice(5).split('/')[0]}`;
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(cf.url);
  if (nm) return `npm:${nm[1]}`;
  const u = shortUrl(cf.url);
  const m = /^(?:\.bench\/dist\/)?(src\/[^/]+|cli|db)/.exec(u);
  return m ? `radotp:${m[1]}` : u;
}

/**
 * `window` (microseconds of the monotonic clock, as process.hrtime.bigint() / 1000n in any process on the
 * machine, which is what V8 stamps profiles with) keeps only the samples taken during the load, so that
 * start-up (module loading, migrations) does not count.
 */
export function summariseProfile(file: string, topN = 25, window?: { fromUs: number; toUs: number }): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const inWindow = window && window.fromUs >= p.startTime && window.fromUs < p.endTime;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of p.nodes) byId.set(n.id, n);
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const keyOf = (cf: CallFrame) => `${cf.functionName || '(anonymous)'}\t${shortUrl(cf.url)}:${cf.lineNumber + 1}`;
  const self = new Map<string, { ms: number; cf: CallFrame }>();
  const inclusive = new Map<string, { ms: number; cf: CallFrame }>();
  const areas = new Map<string, number>();
  let sampled = 0;
  let idle = 0;
  const n = p.samples.length;
  const meanDelta = n > 1 ? (p.endTime - p.startTime) / n : 0;
  let ts = p.startTime;
  for (let i = 0; i < n; i++) {
    ts += p.timeDeltas[i];
    if (inWindow && (ts < window.fromUs || ts > window.toUs)) continue;
    // timeDeltas[i] is the gap before sample i; the sample stands for the time until the next one.
    const us = i + 1 < n ? p.timeDeltas[i + 1] : meanDelta;
    const ms = Math.max(0, us) / 1000;
    const node = byId.get(p.samples[i]);
    if (!node) continue;
    sampled += ms;
    const cf = node.callFrame;
    if (cf.functionName === '(idle)') idle += ms;
    const k = keyOf(cf);
    const e = self.get(k) ?? { ms: 0, cf };
    e.ms += ms;
    self.set(k, e);
    const area = areaOf(cf);
    areas.set(area, (areas.get(area) ?? 0) + ms);
    // inclusive: each function once per sample
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const f = byId.get(id)!.callFrame;
      const fk = keyOf(f);
      if (seen.has(fk)) continue;
      seen.add(fk);
      const ie = inclusive.get(fk) ?? { ms: 0, cf: f };
      ie.ms += ms;
      inclusive.set(fk, ie);
    }
  }
  const busy = sampled - idle;
  const row = (k: string, v: { ms: number; cf: CallFrame }): ProfileRow => {
    const [name, where] = k.split('\t');
    return { name, where, area: areaOf(v.cf), ms: round(v.ms), pct: round((100 * v.ms) / (busy || 1)) };
  };
  const topSelf = [...self.entries()]
    .filter(([, v]) => v.cf.functionName !== '(idle)')
    .sort((a, b) => b[1].ms - a[1].ms)
    .slice(0, topN)
    .map(([k, v]) => row(k, v));
  const byArea = [...areas.entries()]
    .filter(([a]) => a !== '(idle)')
    .sort((a, b) => b[1] - a[1])
    .map(([area, ms]) => ({ area, ms: round(ms), pct: round((100 * ms) / (busy || 1)) }));
  const radotpInclusive = [...inclusive.entries()]
    .filter(([, v]) => areaOf(v.cf).startsWith('radotp:'))
    .sort((a, b) => b[1].ms - a[1].ms)
    .slice(0, topN)
    .map(([k, v]) => row(k, v));
  const wall = inWindow ? (Math.min(window.toUs, p.endTime) - window.fromUs) / 1000 : (p.endTime - p.startTime) / 1000;
  return {
    file,
    window: inWindow ? 'load phase only' : 'whole process (start-up included)',
    wallMs: round(wall),
    sampledMs: round(sampled),
    busyMs: round(busy),
    busyPctOfWall: round((100 * busy) / (wall || 1)),
    topSelf,
    byArea,
    radotpInclusive,
  };
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}

export function formatProfile(s: ProfileSummary, topN = 20): string {
  const out: string[] = [];
  out.push(
    `${s.window}: main thread busy ${s.busyMs.toFixed(0)} ms of ${s.wallMs.toFixed(0)} ms (${s.busyPctOfWall}%); percentages below are of busy time`,
  );
  out.push('', 'self time by area:');
  for (const a of s.byArea.slice(0, 15)) out.push(`  ${a.pct.toFixed(1).padStart(5)}%  ${a.ms.toFixed(0).padStart(7)} ms  ${a.area}`);
  out.push('', `top ${topN} functions by self time:`);
  for (const r of s.topSelf.slice(0, topN)) out.push(`  ${r.pct.toFixed(1).padStart(5)}%  ${r.ms.toFixed(0).padStart(7)} ms  ${r.name}  (${r.where})`);
  out.push('', 'radotp functions by inclusive time:');
  for (const r of s.radotpInclusive.slice(0, 12)) out.push(`  ${r.pct.toFixed(1).padStart(5)}%  ${r.ms.toFixed(0).padStart(7)} ms  ${r.name}  (${r.where})`);
  return out.join('\n');
}

if (require.main === module) {
  const [file, top] = process.argv.slice(2);
  if (!file) {
    process.stderr.write('usage: node -r ./scripts/ts-register.js bench/profile-summary.ts FILE.cpuprofile [topN]\n');
    process.exit(2);
  }
  const topN = Number(top ?? 25);
  process.stdout.write(formatProfile(summariseProfile(file, topN), topN) + '\n');
}
