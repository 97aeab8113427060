// Protects the one list of execution providers: package.json's attentionReuse.executionProvider enum is providerChoices,
// so a provider added on one side (runtime or settings) fails here until the other has it too.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { providerChoices } from '../../analysis/runtime/providers';
import { packageJson } from '../helpers/vscodeStandIn';

describe('the executionProvider setting', () => {
  it('offers exactly the providers the runtime accepts, in the same order, defaulting to auto', () => {
    const setting = (packageJson.contributes.configuration.properties['attentionReuse.executionProvider'] ?? {}) as {
      enum?: unknown[];
      default?: unknown;
    };
    assert.deepEqual(
      setting.enum,
      [...providerChoices],
      'package.json attentionReuse.executionProvider enum and analysis/runtime/providers.ts providerChoices differ',
    );
    assert.equal(setting.default, 'auto');
  });
});
