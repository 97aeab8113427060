/**
 * Attention inside `If` branches (the merged decoders Optimum and transformers.js ship: one
 * graph with and without past key values). `inspect` lists every branch; a run takes the
 * branch the examples select (the If's condition is a graph input such as `use_cache_branch`),
 * or every branch at once with `--branches all`.
 */
import { InputError } from '../errors';
import type { ExampleInput } from '../runtime/inputs';
import { conditionInputs } from './ifConditions';
import type { IfCondition } from './ifConditions';
import { withBranches } from './model';
import { attentionModelOf } from './inspect';
import type { AttentionModel } from './inspect';

/** Which branches a run takes: the ones its examples select, or all of them. */
export type BranchMode = 'selected' | 'all';

/** An If narrowed to one branch, and the input value that chose it. */
export interface BranchSelection extends IfCondition {
  input: string;
  branch: 'then' | 'else';
}

/** The branch a condition input's value selects (an If runs `then` when its condition is true). */
export function branchOf(values: number[], negated: boolean): 'then' | 'else' {
  return (values[0] !== 0) !== negated ? 'then' : 'else';
}

/**
 * The model narrowed to the branches the example selects: every If holding attention is
 * replaced by the branch its condition input picks for `example`. An If decided by a value the
 * graph computes cannot be chosen from the inputs: that is an InputError pointing at
 * `--branches all` (the `branches` option).
 */
export function selectBranches(model: AttentionModel, example: ExampleInput): AttentionModel {
  const conditions = conditionInputs(model.graph, model.stacks);
  if (conditions.length === 0) return model;
  const selections: BranchSelection[] = conditions.map((c) => {
    if (!c.input) {
      throw new InputError(
        `${model.path}: If "${c.node}" holds attention and decides its branch from "${c.condition}", which the graph computes rather than an input gives; pass {field} all to analyze every branch`,
        'branches',
      );
    }
    const given = example.tensors.get(c.input);
    if (!given) throw new InputError(`${example.origin}: missing input "${c.input}": it decides which branch of If "${c.node}" runs`);
    return { ...c, input: c.input, branch: branchOf(given.values, c.negated) };
  });
  const chosen = new Map(selections.map((s) => [s.node, s.branch]));
  const graph = withBranches(model.graph, (step) => chosen.get(step.node));
  return { ...attentionModelOf(graph, model.bytes, model.path), branchSelections: selections };
}

/** Refuses an example whose condition inputs select other branches than the run takes. */
export function checkSameBranches(model: AttentionModel, example: ExampleInput): void {
  for (const s of model.branchSelections ?? []) {
    const given = example.tensors.get(s.input);
    const branch = given ? branchOf(given.values, s.negated) : undefined;
    if (branch !== s.branch) {
      throw new InputError(
        `${example.origin}: "${s.input}" selects the ${branch ?? 'unknown'} branch of If "${s.node}", but this run takes its ${s.branch} branch ` +
          '(chosen by the first example): put examples of one branch in one file, or pass {field} all',
        'branches',
      );
    }
  }
}

/**
 * The model narrowed to the branches of the stacks named (an analysis file's): an If keeps both
 * branches where stacks of both are named, the one named otherwise.
 */
export function branchesOfStacks(model: AttentionModel, names: string[]): AttentionModel {
  const taken = new Map<string, Set<'then' | 'else'>>();
  for (const s of model.stacks.filter((x) => names.includes(x.name))) {
    for (const step of s.branch ?? []) taken.set(step.node, (taken.get(step.node) ?? new Set()).add(step.branch));
  }
  if (taken.size === 0) return model;
  const graph = withBranches(model.graph, (step) => {
    const sides = taken.get(step.node);
    return sides?.size === 2 ? 'both' : sides ? [...sides][0] : undefined;
  });
  return attentionModelOf(graph, model.bytes, model.path);
}
