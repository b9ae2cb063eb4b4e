// The overview's chart: one stacked bar per day (delivered, refused as insecure, bounced,
// deferred), drawn as SVG by hand. Four series and a few dozen bars do not need a charting
// library; SVG scales to any screen, prints, needs no canvas or inline styles under the CSP,
// and carries its own text for screen readers. The same numbers follow as a table.

import { count, day } from '../lib/format.js';
import { html } from '../lib/html.js';

export const SERIES = [
  { key: 'delivered', label: 'Delivered', className: 'series-delivered' },
  { key: 'refused_insecure', label: 'Refused as insecure', className: 'series-refused' },
  { key: 'bounced', label: 'Bounced', className: 'series-bounced' },
  { key: 'deferred', label: 'Deferred', className: 'series-deferred' },
];

const WIDTH = 720;
const HEIGHT = 240;
const LEFT = 44;
const BOTTOM = 28;
const TOP = 10;

export function DailyChart({ days, title }) {
  const totals = days.map((d) => SERIES.reduce((sum, s) => sum + d[s.key], 0));
  const max = niceMax(Math.max(0, ...totals));
  const plotHeight = HEIGHT - TOP - BOTTOM;
  const slot = (WIDTH - LEFT) / days.length;
  const barWidth = Math.max(3, Math.min(36, slot * 0.7));
  const y = (v) => TOP + plotHeight - (v / max) * plotHeight;
  const ticks = [0, max / 4, max / 2, (3 * max) / 4, max];
  const labelEvery = Math.ceil(days.length / 10);
  const summary = `${title}: ${SERIES.map(
    (s) => `${count(days.reduce((sum, d) => sum + d[s.key], 0))} ${s.label.toLowerCase()}`,
  ).join(', ')}.`;

  return html`<figure class="chart">
    <svg viewBox=${`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label=${summary} preserveAspectRatio="xMidYMid meet">
      ${ticks.map(
        (t) => html`<g class="tick">
          <line x1=${LEFT} x2=${WIDTH} y1=${y(t)} y2=${y(t)} />
          <text x=${LEFT - 6} y=${y(t) + 4} text-anchor="end">${count(t)}</text>
        </g>`,
      )}
      ${days.map((d, i) => {
        const x = LEFT + i * slot + (slot - barWidth) / 2;
        let base = 0;
        return html`<g class="bar" data-date=${d.date}>
          <title>${day(d.date)}: ${SERIES.map((s) => `${count(d[s.key])} ${s.label.toLowerCase()}`).join(', ')}</title>
          ${SERIES.map((s) => {
            const value = d[s.key];
            if (value === 0) return null;
            const top = y(base + value);
            const height = y(base) - top;
            base += value;
            return html`<rect class=${s.className} x=${x} y=${top} width=${barWidth} height=${Math.max(height, 1)} />`;
          })}
          ${
            i % labelEvery === 0 &&
            html`<text class="axis-label" x=${x + barWidth / 2} y=${HEIGHT - 8} text-anchor="middle">${day(d.date)}</text>`
          }
        </g>`;
      })}
    </svg>
    <figcaption>
      <ul class="legend">
        ${SERIES.map((s) => html`<li><span class=${`swatch ${s.className}`} aria-hidden="true"></span>${s.label}</li>`)}
      </ul>
    </figcaption>
  </figure>`;
}

/** The chart's numbers as a table (for screen readers, and to read exact values). */
export function DailyTable({ days }) {
  return html`<table class="data daily">
    <caption class="offscreen">Attempts per day</caption>
    <thead><tr><th scope="col">Day (UTC)</th>${SERIES.map((s) => html`<th scope="col" class="num">${s.label}</th>`)}</tr></thead>
    <tbody>
      ${[...days].reverse().map(
        (d) => html`<tr data-date=${d.date}>
          <th scope="row">${day(d.date)}</th>
          ${SERIES.map((s) => html`<td class="num" data-series=${s.key}>${count(d[s.key])}</td>`)}
        </tr>`,
      )}
    </tbody>
  </table>`;
}

/** A round upper bound for the y axis: 4, 8, 20, 40, 100, … so the ticks are whole numbers. */
function niceMax(value) {
  if (value <= 4) return 4;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 4, 5, 10]) {
    if (step * magnitude >= value && (step * magnitude) % 4 === 0) return step * magnitude;
  }
  return Math.ceil(value / (4 * magnitude)) * 4 * magnitude;
}
