// Protects the attentionReuse.train task's fields on their way to the CLI (extension/trainArgs.ts): every trainer
// option a user needs reaches `attention-reuse train` as its flag, a field left out takes its setting, a field of the
// wrong type or out of bounds is refused naming it, and a batch that does not split over processes × micro-batches is
// refused before a terminal opens.
import { fake, fakeContext, packageJson } from '../helpers/vscodeStandIn';
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type * as vscode from 'vscode';
import { SettingsReader } from '../../extension/settings';
import type { FieldSchema } from '../../extension/trainArgs';
import { batchSplitProblem, checkTrainFields, effectiveTrainOptions, trainArgv } from '../../extension/trainArgs';

const properties = (packageJson.contributes as unknown as { taskDefinitions: { properties: Record<string, FieldSchema> }[] })
  .taskDefinitions[0].properties;
const paths = {
  cli: '/ext/dist/cli.js',
  config: '/w/p.reuse.json',
  data: '/w/t.txt',
  tokenizer: '/w/tokenizer.json',
  out: '/w/runs/r',
  python: '/usr/bin/python3',
};

function settings() {
  return new SettingsReader(fakeContext() as unknown as vscode.ExtensionContext).read();
}

/** The value after `flag`, or undefined when the flag is absent. */
const flag = (argv: string[], name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);

describe('train task fields', () => {
  it('pass every trainer option as its flag', () => {
    fake.reset();
    const { fields, problems } = checkTrainFields(
      {
        type: 'attentionReuse.train',
        config: 'p.reuse.json',
        steps: 50,
        batchSize: 64,
        accumulate: 4,
        precision: 'bf16',
        norm: 'pre',
        position: 'relative',
        extraLayers: 1,
        evalEvery: 10,
        evalBatches: 3,
        maxMinutes: 1.5,
        heldOut: 0.05,
        resume: true,
        initFrom: 'model.onnx',
        distill: true,
        launcher: 'torchrun',
        nproc: 4,
        label: 'VS Code adds fields of its own',
      },
      properties,
    );
    assert.deepEqual(problems, []);
    const argv = trainArgv({ ...paths, initFrom: '/w/model.onnx' }, effectiveTrainOptions(fields, settings()));
    const expected: Record<string, string> = {
      '--steps': '50',
      '--batch-size': '64',
      '--accumulate': '4',
      '--precision': 'bf16',
      '--norm': 'pre',
      '--position': 'relative',
      '--extra-layers': '1',
      '--eval-every': '10',
      '--eval-batches': '3',
      '--max-minutes': '1.5',
      '--held-out': '0.05',
      '--init-from': '/w/model.onnx',
      '--launcher': 'torchrun',
      '--nproc': '4',
      '--out': '/w/runs/r',
      '--python': '/usr/bin/python3',
    };
    for (const [name, value] of Object.entries(expected)) assert.equal(flag(argv, name), value, `${name} does not carry the task's field`);
    assert.ok(argv.includes('--resume') && argv.includes('--distill'), 'the boolean fields must become --resume and --distill');
    assert.deepEqual(argv.slice(0, 3), ['/ext/dist/cli.js', 'train', '/w/p.reuse.json']);
    assert.ok(!argv.some((a) => a.includes('VS Code adds')), 'fields outside the task definition must not reach the CLI');
  });

  it('take the settings where the task leaves a field out, and leave out what means "none"', () => {
    fake.reset();
    fake.workspaceValues.set('attentionReuse.training.batchSize', 48);
    fake.workspaceValues.set('attentionReuse.training.precision', 'fp16');
    fake.workspaceValues.set('attentionReuse.training.evalEvery', 0);
    const { fields } = checkTrainFields({ type: 'attentionReuse.train', config: 'p.reuse.json' }, properties);
    const argv = trainArgv(paths, effectiveTrainOptions(fields, settings()));
    assert.equal(flag(argv, '--batch-size'), '48');
    assert.equal(flag(argv, '--precision'), 'fp16');
    assert.equal(flag(argv, '--eval-every'), '0', 'evalEvery 0 turns evaluation off and must be passed');
    assert.equal(flag(argv, '--steps'), '1000', 'the default of attentionReuse.training.steps');
    for (const absent of ['--max-minutes', '--extra-layers', '--resume', '--init-from', '--distill', '--nproc']) {
      assert.ok(!argv.includes(absent), `${absent} was passed although nothing asked for it`);
    }
  });

  it('refuse a field of the wrong type or outside its bounds, naming it', () => {
    const { problems } = checkTrainFields(
      {
        type: 'attentionReuse.train',
        config: 'p.reuse.json',
        precision: 'fp8',
        batchSize: 0,
        accumulate: 2.5,
        resume: 'yes',
        maxMinutes: -1,
        initFrom: '',
      },
      properties,
    );
    for (const field of ['precision', 'batchSize', 'accumulate', 'resume', 'maxMinutes', 'initFrom']) {
      assert.ok(
        problems.some((p) => p.startsWith(`"${field}"`)),
        `no problem names "${field}": ${problems.join('; ')}`,
      );
    }
    assert.ok(checkTrainFields({ type: 'attentionReuse.train' }, properties).problems.some((p) => p.includes('"config"')));
  });

  it('refuse a batch that does not split over processes × micro-batches, naming the settings', () => {
    assert.equal(batchSplitProblem({ batchSize: 32, processes: 2, accumulate: 4 }), undefined);
    const problem = batchSplitProblem({ batchSize: 32, processes: 3, accumulate: 1 });
    assert.match(problem ?? '', /multiple of 3/);
    assert.ok(problem?.includes('attentionReuse.training.processes') && problem.includes('attentionReuse.training.batchSize'));
    fake.reset();
    const o = effectiveTrainOptions({ config: 'x', nproc: 3 }, settings());
    assert.equal(o.processes, 1, 'nproc counts only with torchrun');
  });

  it('the processes setting no longer says the batch of 32 must divide it', () => {
    const described = (packageJson.contributes.configuration.properties['attentionReuse.training.processes'] as { description: string })
      .description;
    assert.ok(!described.includes('divide 32') && described.includes('accumulate'), described);
  });
});
