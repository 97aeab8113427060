// Test helper: reads a heatmap's pixels from a PNG screenshot of its canvas and checks them
// against the legend drawn beside it (issue 18). The legend's colours are read from the same
// screenshot, never from the palette's constants, so a later palette or ramp change keeps the
// check meaningful: the cell of the highest value must have the legend's high colour, every
// cell a colour of the legend, and the legend position of each cell must grow linearly with
// its value. A wrong or inverted scale, a blank chart and a grid drawn off its published
// geometry (canvas data-grid) all fail it.
import { strict as assert } from 'node:assert';
import pngjs from 'pngjs';

/** RGBA pixels of a PNG. */
export function decodePng(buffer) {
  const { width, height, data } = pngjs.PNG.sync.read(buffer);
  return { width, height, data };
}

const distance = (a, b) => Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);

function pixel(img, x, y) {
  const i = (Math.round(y) * img.width + Math.round(x)) * 4;
  return [img.data[i], img.data[i + 1], img.data[i + 2]];
}

/** Per-channel median of the pixels in [x0, x1) × [y0, y1): text or a stray line cannot move it. */
function medianColour(img, x0, x1, y0, y1) {
  const channels = [[], [], []];
  for (let y = Math.ceil(y0); y < y1; y++) for (let x = Math.ceil(x0); x < x1; x++) pixel(img, x, y).forEach((v, k) => channels[k].push(v));
  return channels.map((c) => c.sort((a, b) => a - b)[c.length >> 1]);
}

/** `data-grid` of a grid canvas: the cells' left, top and side in CSS pixels, rows and columns. */
export function parseGrid(dataGrid) {
  const [left, top, cell, rows, cols] = String(dataGrid).split(',').map(Number);
  return { left, top, cell, rows, cols };
}

/**
 * The legend as drawn: found as the first thing right of the grid on the grid's middle row,
 * then followed up and down its centre column. Returns its colours from bottom (low) to top
 * (high), inside its border. `scale` is image pixels per CSS pixel.
 */
export function legendColours(img, grid, scale) {
  const background = pixel(img, 1, 1);
  const differs = (p) => distance(p, background) > 5;
  const y = (grid.top + (grid.rows * grid.cell) / 2) * scale;
  let x = (grid.left + grid.cols * grid.cell) * scale + 2;
  while (x < img.width && !differs(pixel(img, x, y))) x++;
  const x0 = x;
  while (x < img.width && differs(pixel(img, x, y))) x++;
  assert.ok(
    x - x0 >= 4 * scale,
    `no legend right of the grid (found ${x - x0} px of colour at x = ${x0}): the chart drew no legend, or not where the grid's data-grid says`,
  );
  const cx = (x0 + x) / 2;
  let top = y;
  while (top > 0 && differs(pixel(img, cx, top - 1))) top--;
  let bottom = y;
  while (bottom < img.height - 1 && differs(pixel(img, cx, bottom + 1))) bottom++;
  const inset = 2 * scale;
  const colours = [];
  for (let yy = bottom - inset; yy >= top + inset; yy--) colours.push(medianColour(img, cx - scale, cx + scale, yy, yy + 1));
  assert.ok(colours.length >= 20, `the legend is only ${colours.length} px tall`);
  return colours;
}

/** The colour of cell (r, c): the median over a band in its upper part, clear of its text and outlines. */
export function cellColour(img, grid, scale, r, c) {
  const x = (grid.left + c * grid.cell) * scale;
  const y = (grid.top + r * grid.cell) * scale;
  const s = grid.cell * scale;
  return medianColour(img, x + 0.25 * s, x + 0.75 * s, y + 0.12 * s, y + 0.3 * s);
}

/**
 * Checks a heatmap screenshot against its legend: `value(r, c)` is what cell (r, c) shows,
 * `where` names the chart in messages; `topIsHigh` says that the highest value is the top of
 * the colour domain (a similarity of 1), so its cell must have the legend's high colour.
 * `apart(r, c)` names cells drawn apart from the colour scale (a layer against itself): they
 * must have no legend colour. With `domain` [lo, hi] every cell must sit at (v − lo)/(hi − lo)
 * of the legend, which checks a fixed scale (the shared 0–1) and not only a linear one.
 * Returns what it measured, for a log line.
 */
export function checkHeatmapPixels(png, dataGrid, scale, value, where, { topIsHigh = true, apart = () => false, domain = null } = {}) {
  const img = decodePng(png);
  const grid = parseGrid(dataGrid);
  const legend = legendColours(img, grid, scale);
  const [low, high] = [legend[0], legend[legend.length - 1]];
  assert.ok(distance(low, high) > 40, `${where}: the legend's ends are nearly the same colour (${low} / ${high}): a blank or flat legend`);
  const cells = [];
  for (let r = 0; r < grid.rows; r++) {
    for (let c = 0; c < grid.cols; c++) {
      const colour = cellColour(img, grid, scale, r, c);
      let best = 0;
      legend.forEach((l, i) => (distance(l, colour) < distance(legend[best], colour) ? (best = i) : 0));
      const off = distance(legend[best], colour);
      if (apart(r, c)) {
        assert.ok(
          off > 12,
          `${where}: cell (${r}, ${c}) should be drawn apart from the colour scale, but has the legend's colour ${colour}`,
        );
        continue;
      }
      assert.ok(
        off <= 12,
        `${where}: cell (${r}, ${c}) has colour ${colour}, ${off.toFixed(0)} away from every legend colour (blank cell, another palette, or the grid drawn off its data-grid)`,
      );
      cells.push({ r, c, v: value(r, c), at: best / (legend.length - 1), colour });
    }
  }
  const top = cells.reduce((a, b) => (b.v > a.v ? b : a));
  assert.ok(
    !topIsHigh || distance(top.colour, high) <= 12,
    `${where}: the highest cell (${top.r}, ${top.c}) = ${top.v} has colour ${top.colour}, the legend's high colour is ${high} (an inverted or shifted colour scale)`,
  );
  // Legend position against value: a straight rising line (the ramp is linear in the value).
  const n = cells.length;
  const mv = cells.reduce((s, x) => s + x.v, 0) / n;
  const ma = cells.reduce((s, x) => s + x.at, 0) / n;
  const slope = cells.reduce((s, x) => s + (x.v - mv) * (x.at - ma), 0) / cells.reduce((s, x) => s + (x.v - mv) ** 2, 0);
  const worst = cells.reduce(
    (a, x) => {
      const miss = Math.abs(x.at - (ma + slope * (x.v - mv)));
      return miss > a.miss ? { ...x, miss } : a;
    },
    { miss: 0 },
  );
  assert.ok(
    slope > 0,
    `${where}: cell colours run against the values (slope ${slope.toFixed(3)} of legend position per unit): an inverted scale`,
  );
  if (domain) {
    const [lo, hi] = domain;
    for (const x of cells) {
      const want = Math.min(1, Math.max(0, (x.v - lo) / (hi - lo)));
      assert.ok(
        Math.abs(x.at - want) <= 0.06,
        `${where}: cell (${x.r}, ${x.c}) = ${x.v} sits at ${x.at.toFixed(3)} of the legend, expected ${want.toFixed(3)} on the scale ${lo}–${hi} (a fitted or shifted scale where a fixed one was asked for)`,
      );
    }
  }
  assert.ok(
    worst.miss <= 0.06,
    `${where}: cell (${worst.r}, ${worst.c}) = ${worst.v} sits at ${worst.at.toFixed(3)} of the legend, ${worst.miss.toFixed(3)} off the line through the others (cells swapped or shifted, or a non-linear scale)`,
  );
  return { cells: n, legendPx: legend.length, slope, worstMiss: worst.miss, low, high };
}
