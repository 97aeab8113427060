/**
 * What the tokens of an image or audio example are, for the attention viewer: a vision
 * transformer's tokens are its leading class (and distillation) tokens, then one per patch in
 * row-major order; an audio encoder's tokens are its feature frames after the strided
 * convolutions, each covering a fixed stretch of time.
 */

/** How an image's tokens lie on it: `offset` leading tokens, then `rows` × `cols` patches. */
export interface PatchGrid {
  rows: number;
  cols: number;
  offset: number;
}

/**
 * The patch grid of `tokens` tokens over an image of width × height pixels: square patches
 * that tile the image, after one class token (the usual case), none, or a class and a
 * distillation token (DeiT); null when no such grid fits.
 */
export function patchGrid(tokens: number, width: number, height: number): PatchGrid | null {
  for (const offset of [1, 0, 2]) {
    const patches = tokens - offset;
    if (patches < 1) continue;
    const cols = Math.round(Math.sqrt((patches * width) / height));
    for (const c of [cols, cols - 1, cols + 1]) {
      if (c < 1 || patches % c !== 0) continue;
      const rows = patches / c;
      if (width % c === 0 && height % rows === 0 && width / c === height / rows) return { rows, cols: c, offset };
    }
  }
  return null;
}

/** `[CLS]`, then `(row,col)` of each patch (0-based). */
export function patchLabels(grid: PatchGrid): string[] {
  const lead = ['[CLS]', '[DIST]'].slice(0, grid.offset);
  return [...lead, ...Array.from({ length: grid.rows * grid.cols }, (_, i) => `(${Math.floor(i / grid.cols)},${i % grid.cols})`)];
}

/**
 * `t=0.00s`, `t=0.02s`, …: each of `tokens` encoder tokens over `frames` feature frames of
 * `frameSeconds` each (Whisper: 3000 frames of 10 ms become 1500 tokens of 20 ms).
 */
export function frameLabels(tokens: number, audio: { frames: number; frameSeconds: number }): string[] {
  const seconds = (audio.frames * audio.frameSeconds) / tokens;
  const digits = seconds >= 0.1 ? 1 : 2;
  return Array.from({ length: tokens }, (_, i) => `f${i} ${(i * seconds).toFixed(digits)}s`);
}
