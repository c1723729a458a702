import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/*
 * Docker cannot run where radotp is developed, so the tests build the image the way its Dockerfile says,
 * without Docker: each stage is a folder standing for its root file system; COPY copies from the build
 * context (minus .dockerignore) or from an earlier stage's folder; RUN runs in the stage's WORKDIR with
 * the image's absolute paths (WORKDIR, VOLUME, COPY targets, ENV values) moved into the stage's folder.
 * What that proves: the final stage holds everything radotp needs at run time, and its command works.
 * What it cannot: the base image (FROM) and the system packages of `apt-get` lines, which are skipped
 * and listed, with the host's Node.js and tools standing in for the image's.
 */

export interface Instruction {
  readonly keyword: string;
  readonly args: string;
  readonly line: number;
}

export interface BuiltImage {
  /** The final stage's root file system. */
  readonly root: string;
  /** ENV of the final stage, its paths moved into `root`. */
  readonly env: Record<string, string>;
  /** ENTRYPOINT + CMD, paths moved into `root`; a leading `tini --` (signal forwarding) left out, `node` the host's. */
  readonly command: string[];
  /** Instructions not reproduced, as "line N: text". */
  readonly skipped: string[];
  /** An absolute path of the image, as a path in `root`. */
  hostPath(imagePath: string): string;
}

/** The Dockerfile's instructions (comments and blank lines dropped, `\` continuations joined). */
export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    while (line.endsWith('\\') && i + 1 < lines.length) line = line.slice(0, -1) + ' ' + lines[++i]!.trim();
    const m = /^(\w+)\s+(.*)$/.exec(line);
    if (!m) throw new Error(`Dockerfile line ${start + 1}: cannot read "${line}"`);
    out.push({ keyword: m[1]!.toUpperCase(), args: m[2]!, line: start + 1 });
  }
  return out;
}

interface Stage {
  name?: string;
  root: string;
  workdir: string;
  env: Record<string, string>;
  /** Absolute image paths that RUN, ENV and the command refer to, longest first. */
  paths: string[];
  entrypoint: string[];
  cmd: string[];
}

/** Builds `dockerfile` (in `context`) stage by stage under `into`; RUN output is returned in errors only. */
export function buildImage(context: string, dockerfile: string, into: string): BuiltImage {
  const instructions = parseDockerfile(fs.readFileSync(dockerfile, 'utf8'));
  const ignored = readDockerignore(context);
  const stages: Stage[] = [];
  const skipped: string[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const m = /^\S+(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      const root = path.join(into, `stage${stages.length}`);
      fs.mkdirSync(root, { recursive: true });
      stages.push({ name: m?.[1], root, workdir: '/', env: {}, paths: stagePaths(instructions, ins), entrypoint: [], cmd: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (!stage) throw new Error(`Dockerfile line ${ins.line}: ${ins.keyword} before FROM`);
    const inRoot = (p: string) => path.join(stage.root, path.posix.isAbsolute(p) ? p : path.posix.join(stage.workdir, p));
    switch (ins.keyword) {
      case 'WORKDIR':
        stage.workdir = path.posix.resolve(stage.workdir, ins.args);
        fs.mkdirSync(inRoot('.'), { recursive: true });
        break;
      case 'COPY': {
        const words = ins.args.split(/\s+/);
        const from = words[0]!.startsWith('--from=') ? words.shift()!.slice('--from='.length) : undefined;
        const dest = words.pop()!;
        const source = from === undefined ? undefined : stages.find((s) => s.name === from);
        if (from !== undefined && !source) throw new Error(`Dockerfile line ${ins.line}: no stage named ${from}`);
        for (const src of words) {
          const srcPath = source ? path.join(source.root, src) : path.join(context, src);
          if (!fs.existsSync(srcPath)) throw new Error(`Dockerfile line ${ins.line}: COPY source ${src} does not exist`);
          const target = dest.endsWith('/') || words.length > 1 ? path.join(inRoot(dest), path.basename(src)) : inRoot(dest);
          fs.cpSync(srcPath, target, {
            recursive: true,
            verbatimSymlinks: true,
            filter: (p) => source !== undefined || !ignored(path.relative(context, p)),
          });
        }
        break;
      }
      case 'RUN':
        if (/^apt-get\b/.test(ins.args)) {
          skipped.push(`line ${ins.line}: ${ins.args}`);
          break;
        }
        try {
          execFileSync('sh', ['-c', confined(movePaths(ins.args, stage), stage, ins)], {
            cwd: inRoot('.'),
            env: { ...process.env, ...stage.env },
            stdio: 'pipe',
            timeout: 600_000,
          });
        } catch (e) {
          const r = e as { stdout?: Buffer; stderr?: Buffer; message: string };
          throw new Error(`Dockerfile line ${ins.line}: RUN failed: ${r.message}\n${r.stdout ?? ''}${r.stderr ?? ''}`);
        }
        break;
      case 'ENV': {
        const m = /^(\w+)[=\s](.*)$/.exec(ins.args);
        if (!m) throw new Error(`Dockerfile line ${ins.line}: cannot read ENV ${ins.args}`);
        stage.env[m[1]!] = movePaths(m[2]!, stage);
        break;
      }
      case 'ENTRYPOINT':
        stage.entrypoint = (JSON.parse(ins.args) as string[]).map((w) => movePaths(w, stage));
        break;
      case 'CMD':
        stage.cmd = (JSON.parse(ins.args) as string[]).map((w) => movePaths(w, stage));
        break;
      case 'VOLUME':
      case 'EXPOSE':
        break; // nothing to build: the test chooses its own folders and ports
      default:
        throw new Error(`Dockerfile line ${ins.line}: ${ins.keyword} is not reproduced by this test`);
    }
  }
  const last = stages.at(-1);
  if (!last) throw new Error('Dockerfile has no FROM');
  let command = [...last.entrypoint, ...last.cmd];
  if (/(^|\/)tini$/.test(command[0] ?? '') && command[1] === '--') command = command.slice(2);
  if (command[0] === 'node') command = [process.execPath, ...command.slice(1)];
  return { root: last.root, env: last.env, command, skipped, hostPath: (p) => path.join(last.root, p) };
}

/** The absolute paths the stage starting at `from` names in WORKDIR, VOLUME, COPY targets and ENV values. */
function stagePaths(all: Instruction[], from: Instruction): string[] {
  const paths = new Set<string>();
  for (const ins of all.slice(all.indexOf(from) + 1)) {
    if (ins.keyword === 'FROM') break;
    const words =
      ins.keyword === 'WORKDIR' || ins.keyword === 'VOLUME'
        ? [ins.args]
        : ins.keyword === 'COPY'
          ? [ins.args.split(/\s+/).pop()!]
          : ins.keyword === 'ENV'
            ? [ins.args.replace(/^\w+[=\s]/, '')]
            : [];
    for (const w of words) if (w.startsWith('/')) paths.add(w.replace(/\/+$/, '') || '/');
  }
  return [...paths].filter((p) => p !== '/').sort((a, b) => b.length - a.length);
}

/** `text` with each of the stage's image paths (where a path starts: after a space, quote, = or :) moved into its root. */
function movePaths(text: string, stage: Stage): string {
  let out = text;
  for (const p of stage.paths) {
    const escaped = p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    out = out.replace(new RegExp(`(^|[\\s'"=:])${escaped}(?=$|[/\\s'"\\\\])`, 'g'), (_m, before: string) => before + path.join(stage.root, p));
  }
  return out;
}

/** `command`, unless it names an absolute path outside the stage's folder: it runs on this machine, not in an image. */
function confined(command: string, stage: Stage, ins: Instruction): string {
  for (const m of command.matchAll(/(?:^|[\s'"=:>])(\/[^\s'"]*)/g)) {
    const p = m[1]!;
    if (p !== '/dev/null' && !p.startsWith(stage.root + '/')) throw new Error(`Dockerfile line ${ins.line}: RUN names ${p}, outside the image's folders; not run here`);
  }
  return command;
}

/** .dockerignore as a predicate on context-relative paths (plain names and folder prefixes, as radotp's uses). */
function readDockerignore(context: string): (relative: string) => boolean {
  const file = path.join(context, '.dockerignore');
  const patterns = fs.existsSync(file)
    ? fs
        .readFileSync(file, 'utf8')
        .split('\n')
        .map((l) => l.trim().replace(/\/+$/, ''))
        .filter((l) => l && !l.startsWith('#'))
    : [];
  for (const p of patterns) if (/[*?![]/.test(p)) throw new Error(`.dockerignore pattern ${p}: wildcards are not reproduced by this test`);
  return (relative) => patterns.some((p) => relative === p || relative.startsWith(p + '/'));
}
