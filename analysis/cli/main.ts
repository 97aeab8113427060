import { CancelledError, InputError, describeError } from '../errors';
import { flagOf } from './args';
import { analyzeCommand, analyzeHelp } from './analyzeCommand';
import { extractCommand, extractHelp } from './extractCommand';
import { inspectCommand, inspectHelp } from './inspectCommand';
import { mergeCommand, mergeHelp } from './mergeCommand';
import { compareCommand, compareHelp } from './compareCommand';
import { costCommand, costHelp } from './costCommand';
import { planCommand, planHelp } from './planCommand';
import { emitCommand, emitHelp } from './emitCommand';
import { tokenizeCommand, tokenizeHelp } from './tokenizeCommand';
import { trainCommand, trainHelp } from './trainCommand';
import { whatifCommand, whatifHelp } from './whatifCommand';

const commands: Record<string, { run: (argv: string[], signal: AbortSignal) => Promise<number>; help: () => string }> = {
  inspect: { run: inspectCommand, help: inspectHelp },
  extract: { run: extractCommand, help: extractHelp },
  analyze: { run: analyzeCommand, help: analyzeHelp },
  merge: { run: mergeCommand, help: mergeHelp },
  cost: { run: costCommand, help: costHelp },
  plan: { run: planCommand, help: planHelp },
  emit: { run: emitCommand, help: emitHelp },
  tokenize: { run: tokenizeCommand, help: tokenizeHelp },
  train: { run: trainCommand, help: trainHelp },
  whatif: { run: whatifCommand, help: whatifHelp },
  compare: { run: compareCommand, help: compareHelp },
};

const usage = () => `Usage: attention-reuse COMMAND [options]

Measures how much of a transformer's attention is recomputed across layers.

Commands:
${Object.values(commands)
  .map((c) => `  ${c.help().split('\n')[0].replace('Usage: attention-reuse ', '')}`)
  .join('\n')}

Run attention-reuse COMMAND --help for a command's options.
Exit codes: 0 done, 1 internal error, 2 bad input, 130 cancelled.`;

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name ? 0 : 2;
  }
  const command = commands[name];
  if (!command) {
    console.error(`attention-reuse: unknown command "${name}" (commands: ${Object.keys(commands).join(', ')})`);
    return 2;
  }
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await command.run(rest, controller.signal);
  } catch (err) {
    if (err instanceof CancelledError) {
      console.error('attention-reuse: cancelled; no output written');
      return 130;
    }
    if (err instanceof InputError) {
      console.error(`attention-reuse: ${describeError(err, flagOf)}`);
      return 2;
    }
    console.error(`attention-reuse: internal error: ${describeError(err)}`);
    if (process.env.ATTENTION_REUSE_DEBUG) console.error(err);
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

if (require.main === module) {
  process.env.ORT_DISABLE_TELEMETRY ??= '1';
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
