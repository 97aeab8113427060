/**
 * chart.js for the scatter and line charts (the grids are drawn by gridChart.ts). Only the
 * pieces used are registered, animation is off (charts update as data streams in), and a
 * small plugin paints the theme background so that exported PNGs are not transparent.
 */
import { Chart, Filler, Legend, LinearScale, LineController, LineElement, PointElement, ScatterController, Tooltip } from 'chart.js';
import type { Plugin } from 'chart.js';
import type { Palette } from './theme';
import { css } from './theme';

Chart.register(ScatterController, LineController, PointElement, LineElement, LinearScale, Tooltip, Legend, Filler);

let background = 'transparent';

const backgroundPlugin: Plugin = {
  id: 'themeBackground',
  beforeDraw(chart) {
    const { ctx, width, height } = chart;
    ctx.save();
    ctx.fillStyle = background;
    ctx.fillRect(0, 0, width, height);
    ctx.restore();
  },
};
Chart.register(backgroundPlugin);

/** Points chart.js's defaults at the theme; charts made afterwards pick them up. */
export function applyChartTheme(p: Palette): void {
  background = css(p.background);
  Chart.defaults.color = css(p.muted);
  Chart.defaults.borderColor = css(p.border, 0.6);
  Chart.defaults.font.family = p.fontFamily;
  Chart.defaults.font.size = Math.round(p.fontSize * 0.85);
  Chart.defaults.animation = false;
  Chart.defaults.plugins.tooltip.backgroundColor = css(p.background, 0.95);
  Chart.defaults.plugins.tooltip.titleColor = css(p.foreground);
  Chart.defaults.plugins.tooltip.bodyColor = css(p.foreground);
  Chart.defaults.plugins.tooltip.borderColor = css(p.border);
  Chart.defaults.plugins.tooltip.borderWidth = 1;
}

export { Chart };
