import { InputError } from './errors';

/**
 * Nesting deeper than this is refused before parsing. The deepest legitimate file is an
 * analysis (headPairs is [L][H][L][H] inside stacks[]: 7 levels); JSON.parse itself copes with
 * any depth, but the recursive code after it (Array.flat, schema validators, structuredClone)
 * overflows the stack at a few thousand.
 */
export const maxJsonDepth = 64;

/** How deep `text` nests arrays and objects (strings skipped), stopping once past `limit`. */
export function jsonDepth(text: string, limit = Infinity): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > deepest && (deepest = depth) > limit) return deepest;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return deepest;
}

/**
 * JSON.parse with nesting bounded by `maxJsonDepth`; `where` starts every message (a file,
 * or `file:line`), which says what is wrong in one line.
 */
export function parseJsonText(text: string, where: string): unknown {
  if (jsonDepth(text, maxJsonDepth) > maxJsonDepth) throw new InputError(`${where}: JSON nested more than ${maxJsonDepth} levels deep`);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InputError(`${where}: not valid JSON (${(err as Error).message.split('\n')[0]})`);
  }
}
