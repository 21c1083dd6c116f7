// Writes a file atomically (temp file in the same folder, fsync, rename, fsync of the folder), so
// readers see either the old file or the complete new one; shared by every writer of model files.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';

/** Replaces filePath with bytes, or leaves it as it was when anything fails. */
export function writeFileAtomically(filePath: string, bytes: Uint8Array): void {
  const target = path.resolve(filePath);
  const dir = path.dirname(target);
  // Same directory, so the rename cannot cross filesystems.
  const temp = path.join(dir, `.${path.basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  removeStaleTempFiles(dir, path.basename(target));
  let fd: number | undefined;
  try {
    fd = fs.openSync(temp, 'wx');
    fs.writeFileSync(fd, bytes);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(temp, target);
  } catch (err) {
    // Clean up best-effort; the original error is the one worth reporting.
    const openFd = fd;
    if (openFd !== undefined) ignoreErrors(() => fs.closeSync(openFd));
    ignoreErrors(() => fs.rmSync(temp, { force: true }));
    throw err;
  }
  fsyncDirectory(dir);
}

// A writer killed between open and rename (SIGKILL, power loss) leaves its temp file behind; without
// this, every such crash would leave one more. Removes this target's temp files whose writer process
// no longer exists (same naming as above). A live writer's file, this process's own (another thread
// may be saving) and anything not matching the pattern are left alone. Best-effort: errors are ignored.
// (On a directory shared across machines or pid namespaces a remote writer's file may look stale: its
// save then fails with ENOENT at the rename, and the target it would have replaced stays intact.)
function removeStaleTempFiles(dir: string, base: string): void {
  ignoreErrors(() => {
    const prefix = `.${base}.`;
    for (const name of fs.readdirSync(dir)) {
      if (!name.startsWith(prefix) || !name.endsWith('.tmp')) continue;
      const match = /^(\d+)\.[0-9a-f]{12}\.tmp$/.exec(name.slice(prefix.length));
      if (!match) continue;
      const pid = Number(match[1]);
      if (pid === process.pid || processExists(pid)) continue;
      ignoreErrors(() => fs.rmSync(path.join(dir, name), { force: true }));
    }
  });
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);  // signal 0: only checks that the process exists
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';  // exists, owned by someone else
  }
}

// Makes the rename itself durable. Windows cannot open directories for fsync; there rename is all we get.
function fsyncDirectory(dir: string): void {
  if (process.platform === 'win32') return;
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}


function ignoreErrors(action: () => void): void {
  try {
    action();
  } catch {
    // deliberately ignored
  }
}
