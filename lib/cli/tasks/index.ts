// The CLI's built-in tasks, by name.

import { births } from './births';
import { g2p } from './g2p';
import { moby } from './moby';
import { namesGender } from './names-gender';
import { namesGenerate } from './names-generate';
import type { AnyTask } from './task';

export const TASKS: ReadonlyArray<AnyTask> = [g2p, namesGender, namesGenerate, births, moby];

export function findTask(name: string): AnyTask | undefined {
  return TASKS.find((t) => t.name === name);
}
