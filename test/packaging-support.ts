// Helpers of the packaging tests (test/packaging-*.test.ts): the repository's paths, clean child
// environments, what a binary links, and a mount namespace with the system OpenBLAS hidden.

import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const repoRoot = path.join(__dirname, '..', '..');  // dist/test -> repository root

export function readPackageJson(): Record<string, any> {  // eslint-disable-line @typescript-eslint/no-explicit-any
  return JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8'));
}

/** The prebuilt binary `npm run prebuild` made for this platform, if any. */
export function prebuiltBinary(root = repoRoot): string | undefined {
  const dir = path.join(root, 'prebuilds', `${os.platform()}-${os.arch()}`);
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.node')) : [];
  return files.length ? path.join(dir, files[0]) : undefined;
}

/**
 * process.env without what would steer the child's loading or npm: PREBUILDS_ONLY, the addon
 * overrides, LD_* and the npm_* variables of the `npm run` this runs under (a nested npm would
 * read npm_config_* as its own configuration).
 */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(npm_|PREBUILDS_ONLY$|RNNKIT_|LD_PRELOAD$|LD_LIBRARY_PATH$|NODE_OPTIONS$|INIT_CWD$)/.test(key)) continue;
    env[key] = value;
  }
  // Node's own headers, so a from-source build needs no download (there may be no network).
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  if (fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) env.npm_config_nodedir = prefix;
  return { ...env, ...extra };
}

export function run(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeout?: number }):
SpawnSyncReturns<string> {
  return spawnSync(command, args, {
    cwd: options.cwd, env: options.env ?? cleanEnv(), encoding: 'utf8', timeout: options.timeout ?? 120_000,
    maxBuffer: 64 << 20,
  });
}

export function describeRun(result: SpawnSyncReturns<string>): string {
  return `exit ${result.status} (signal ${result.signal})\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;
}

/** The shared libraries a binary asks the dynamic loader for (readelf -d NEEDED). */
export function neededLibraries(file: string): string[] {
  const dynamic = execFileSync('readelf', ['-d', file], { encoding: 'utf8' });
  return [...dynamic.matchAll(/\(NEEDED\)\s+Shared library: \[(.+?)\]/g)].map((m) => m[1]);
}

/** The real files of the system's BLAS/LAPACK libraries and of cblas.h, as the loader and compilers find them. */
export function systemOpenblasFiles(): { libraries: string[]; headers: string[] } {
  let cache = '';
  try {
    cache = execFileSync('ldconfig', ['-p'], { encoding: 'utf8' });
  } catch { /* no ldconfig: nothing found */ }
  const libraries = [...cache.matchAll(/=>\s*(\S*lib(?:open)?blas\S*\.so\S*)/g)].map((m) => m[1]);
  const triple = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' }[os.arch() as string] ?? '';
  const headers = [`/usr/include/${triple}/cblas.h`, '/usr/include/openblas/cblas.h', '/usr/include/cblas.h']
    .filter((f) => fs.existsSync(f));
  const real = (files: string[]) => [...new Set(files.filter((f) => fs.existsSync(f)).map((f) => fs.realpathSync(f)))];
  return { libraries: real(libraries), headers: real(headers) };
}

/**
 * A shell command that makes the system OpenBLAS unavailable inside a private mount namespace:
 * an empty tmpfs over each directory that holds only BLAS (Debian's openblas-pthread/ and the
 * like), /dev/null over any other library file. Hidden headers only where their directory is
 * BLAS's own (`headersHidden` says whether all were).
 */
export function hideOpenblasScript(): { script: string; hidden: string[]; headersHidden: boolean } {
  const { libraries, headers } = systemOpenblasFiles();
  const dirs = new Set<string>();
  const files = new Set<string>();
  for (const lib of libraries) {
    if (/blas/.test(path.basename(path.dirname(lib)))) dirs.add(path.dirname(lib));
    else files.add(lib);
  }
  let headersHidden = true;
  for (const header of headers) {
    if (/blas/.test(path.basename(path.dirname(header)))) dirs.add(path.dirname(header));
    else headersHidden = false;
  }
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const mounts = [...[...dirs].map((d) => `mount -t tmpfs rnnkit-hidden ${quote(d)}`),
    ...[...files].map((f) => `mount --bind /dev/null ${quote(f)}`)];
  return { script: ['set -e', ...mounts, 'exec "$@"'].join('\n'), hidden: [...libraries, ...headers], headersHidden };
}

/** Whether this process may make mount namespaces (root on Linux with unshare(1)), and if not, why. */
export function namespaceUnavailable(): string | undefined {
  if (os.platform() !== 'linux') return 'mount namespaces are Linux only';
  if (process.getuid?.() !== 0) return 'hiding the system OpenBLAS needs root (unshare --mount)';
  const probe = spawnSync('unshare', ['--mount', '--propagation', 'private', 'true'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) return `unshare --mount does not work here: ${probe.error?.message ?? probe.stderr}`;
  return undefined;
}

/** Runs `command args` in a private mount namespace with the system OpenBLAS hidden. */
export function runWithoutOpenblas(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv;
  timeout?: number }): SpawnSyncReturns<string> {
  const { script } = hideOpenblasScript();
  return run('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', script, 'sh', command, ...args], options);
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `rnnkit-${prefix}-`));
}
