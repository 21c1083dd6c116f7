// How rnnkit finds its native binary, and what a user reads when it cannot: a corrupt prebuild,
// a platform with no prebuild and no local build, and (PREBUILDS_ONLY=1) proof that the shipped
// prebuild is the binary in use. Each case loads rnnkit in a child process from a scratch package.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { nativeAddonPath } from '../lib/native';
import { cleanEnv, describeRun, prebuiltBinary, repoRoot, run, tempDir } from './packaging-support';

const FIX = 'npm install --build-from-source';

/** A copy of the package (compiled lib, package.json, the repository's node_modules) with these prebuilds and no build/. */
function scratchPackage(prebuilds: Record<string, Buffer>): string {
  const dir = tempDir('load');
  fs.cpSync(path.join(repoRoot, 'dist', 'lib'), path.join(dir, 'dist', 'lib'), { recursive: true });
  fs.copyFileSync(path.join(repoRoot, 'package.json'), path.join(dir, 'package.json'));
  fs.symlinkSync(path.join(repoRoot, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  for (const [file, bytes] of Object.entries(prebuilds)) {
    fs.mkdirSync(path.join(dir, 'prebuilds', path.dirname(file)), { recursive: true });
    fs.writeFileSync(path.join(dir, 'prebuilds', file), bytes);
  }
  return dir;
}

/** Requires the scratch package in a child; returns the error it threw ({} if it loaded). */
function loadError(dir: string): { code?: string; message?: string } {
  const script = `try { require(${JSON.stringify(path.join(dir, 'dist', 'lib', 'index.js'))}); console.log('{}'); }
    catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`;
  const result = run(process.execPath, ['-e', script], { cwd: dir, env: cleanEnv() });
  assert.equal(result.status, 0, describeRun(result));
  return JSON.parse(result.stdout);
}

describe('packaging: loading the native binary', function () {
  this.timeout(30_000);
  const scratch: string[] = [];
  after(() => scratch.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

  it(`a corrupt prebuilt binary fails with ERR_RNNKIT_NATIVE_LOAD naming the file, the cause and \`${FIX}\``, () => {
    const tuple = `${os.platform()}-${os.arch()}`;
    const dir = scratchPackage({ [`${tuple}/rnnkit.glibc.node`]: Buffer.from('\x7fELF\x02\x01\x01 truncated') });
    scratch.push(dir);
    const error = loadError(dir);
    assert.equal(error.code, 'ERR_RNNKIT_NATIVE_LOAD');
    assert.ok(error.message?.includes(path.join('prebuilds', tuple, 'rnnkit.glibc.node')), error.message);
    assert.match(error.message!, /damaged or was built for another system/);
    assert.ok(error.message!.includes(FIX), error.message);
  });

  it(`a platform with no prebuilt binary and no local build gets the platform, what ships and \`${FIX}\``, () => {
    const dir = scratchPackage({ 'sunos-sparc/rnnkit.node': Buffer.from('not for this machine') });
    scratch.push(dir);
    const error = loadError(dir);
    assert.equal(error.code, 'ERR_RNNKIT_NATIVE_LOAD');
    assert.ok(error.message?.includes(`no native binary for this system (${process.platform}-${process.arch}`),
      error.message);
    assert.match(error.message!, /ships prebuilt binaries for sunos-sparc only/);
    assert.ok(error.message!.includes(FIX), error.message);
  });

  it('with PREBUILDS_ONLY=1 the shipped prebuild, not a local build, is the binary in use', function () {
    if (!process.env.PREBUILDS_ONLY) this.skip();  // npm run test:prebuilt sets it
    const prebuild = prebuiltBinary();
    assert.ok(prebuild, 'PREBUILDS_ONLY=1 but no prebuild: run `npm run prebuild` first');
    assert.equal(nativeAddonPath, prebuild);
    const mapped = fs.readFileSync('/proc/self/maps', 'utf8');
    assert.ok(mapped.includes(prebuild), 'the prebuild is mapped into this process');
    assert.ok(!mapped.includes(path.join(repoRoot, 'build', 'Release')), 'no build/Release binary is mapped');
  });
});
