/**
 * What each graph input is for, from its name, element type and declared shape: the runner
 * pads only token sequences (ids, masks, positions, token types), batches every other input
 * by shape (images, audio, past key values), and fills in the inputs that have one obvious
 * value. One table, read by the example readers, their checks and the runner.
 */
import type { ModelInput } from '../onnx/inspect';

export type InputRole =
  /** Token ids: integer [batch, sequence]. */
  | 'tokens'
  /** 1 for a real token, 0 for padding: [batch, sequence] (past and new tokens with a KV cache). */
  | 'mask'
  | 'positions'
  | 'types'
  /** One layer's cached keys or values: [batch, heads, past, head size]. */
  | 'past'
  /** Anything else: pixel values, audio features, flags. */
  | 'other';

const integer = /^(u?int(8|16|32|64))$/;

export function inputRole(spec: Pick<ModelInput, 'name' | 'type' | 'shape'>): InputRole {
  const { name, type, shape } = spec;
  const rank = shape?.length;
  // A sequence input is [batch, sequence]; a 4-D attention mask, say, is just another input.
  const sequence = rank === undefined || rank === 2;
  if ((/attention_mask$/.test(name) || name === 'mask') && sequence) return 'mask';
  if ((/position_ids$/.test(name) || name === 'cache_position') && sequence) return 'positions';
  if (/token_type_ids$/.test(name) && sequence) return 'types';
  if (/past/i.test(name) && /float/.test(type) && (rank === undefined || rank === 4)) return 'past';
  if (integer.test(type) && (rank === undefined || rank === 2) && (/input_ids$/.test(name) || rank === 2)) return 'tokens';
  return 'other';
}

/** Inputs of a decoder's side start with `decoder_`; they share a sequence axis of their own. */
export function sideOf(name: string): 'decoder' | 'encoder' {
  return name.startsWith('decoder_') ? 'decoder' : 'encoder';
}

/** Roles whose axis 0 (per example) is the token axis of their side. */
export function isSequenceRole(role: InputRole): boolean {
  return role === 'tokens' || role === 'mask' || role === 'positions' || role === 'types';
}

/** The input that holds token ids: the encoder side's `input_ids`, else its first integer sequence input. */
export function tokenInputOf(inputs: ModelInput[]): ModelInput | undefined {
  const tokens = inputs.filter((i) => inputRole(i) === 'tokens' && sideOf(i.name) === 'encoder');
  return tokens.find((i) => /input_ids$/.test(i.name)) ?? tokens[0];
}
