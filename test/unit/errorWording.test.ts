// Protects how the extension words an error about a service option: as its setting or its UI label, never as a CLI flag.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { InputError } from '../../analysis/errors';
import { parseProviderChoice } from '../../analysis/runtime/providers';
import { settingOfField, userMessage, wordField } from '../../extension/errorWording';
import { packageJson } from '../helpers/vscodeStandIn';

describe('userMessage', () => {
  it('words options that settings set as those settings', () => {
    assert.equal(
      userMessage(new InputError('{field} must be at least 1', 'batch')),
      'the attentionReuse.batchSize setting must be at least 1',
    );
    assert.equal(wordField('examples'), 'the attentionReuse.examples setting');
    assert.throws(
      () => parseProviderChoice('tpu'),
      (err) => {
        assert.match(userMessage(err), /^the attentionReuse\.executionProvider setting must be one of auto, cpu/);
        return true;
      },
    );
  });

  it('words the rest with the labels of the panel and the command arguments', () => {
    assert.equal(
      userMessage(new InputError('{field} 3 does not match the head map', 'P')),
      'P (reuse layers) 3 does not match the head map',
    );
    assert.equal(
      userMessage(new InputError('/x.json already exists (pass {field} to replace it)', 'force')),
      '/x.json already exists (pass overwrite: true to replace it)',
    );
    assert.equal(
      userMessage(new InputError('{field} is odd', 'somethingNew')),
      'somethingNew is odd',
      'an option without a wording keeps its name',
    );
  });

  it('gives other errors their first line and never a flag', () => {
    assert.equal(userMessage(new Error('first\nsecond')), 'first');
    assert.equal(userMessage('plain'), 'plain');
    assert.doesNotMatch(userMessage(new InputError('{field} bad', 'maxLength')), /--/, 'the extension has no flags to name');
  });

  it('names only settings that package.json declares', () => {
    const declared = packageJson.contributes.configuration.properties;
    for (const [field, setting] of Object.entries(settingOfField))
      assert.ok(declared[setting], `${field} is worded as ${setting}, which package.json does not declare`);
  });
});
