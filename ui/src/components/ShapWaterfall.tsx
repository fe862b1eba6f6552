// A SHAP waterfall as inline SVG: from the base value, each feature's contribution moves the model's output
// right (raises it) or left (lowers it), the largest first, the rest summed as "other", ending at the output.
// The direction shows three ways: the arrow's tip, the signed value in text, and the colour.
import { useEffect, useId, useRef, useState, type RefObject } from "react";

export interface WaterfallStep {
  label: string;
  value: number;
  /** The running output before and after this step. */
  start: number;
  end: number;
  /** How many features "other" sums (0 for a single feature). */
  count: number;
}

export interface Waterfall {
  base: number;
  steps: WaterfallStep[];
  end: number;
}

/** The waterfall's steps: the `top` largest contributions by |value|, then the rest summed as "other". */
export function waterfallSteps(base: number, contributions: Record<string, number>, top = 8): Waterfall {
  const sorted = Object.entries(contributions)
    .filter(([, v]) => Number.isFinite(v))
    .sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]));
  const shown = sorted.length > top ? sorted.slice(0, top) : sorted;
  const rest = sorted.slice(shown.length);
  const steps: WaterfallStep[] = [];
  let running = base;
  const push = (label: string, value: number, count: number) => {
    steps.push({ label, value, start: running, end: running + value, count });
    running += value;
  };
  for (const [label, value] of shown) push(label, value, 0);
  if (rest.length > 0) {
    push(`other (${rest.length} features)`, rest.reduce((sum, [, v]) => sum + v, 0), rest.length);
  }
  return { base, steps, end: running };
}

/** A number in a few significant digits, with a true minus sign; `signed` adds + to positive ones. */
export function formatValue(value: number, signed = false): string {
  if (Math.abs(value) < 1e-12) return "0";
  const abs = Math.abs(value);
  const text = abs >= 1000 || abs < 0.001 ? abs.toExponential(2) : abs.toPrecision(3);
  const clean = text.includes("e") ? text : String(Number(text));
  if (value < 0) return `−${clean}`;
  return signed ? `+${clean}` : clean;
}

function useWidth(fallback: number): [RefObject<HTMLDivElement>, number] {
  const ref = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(fallback);
  useEffect(() => {
    const element = ref.current;
    if (!element || typeof ResizeObserver === "undefined") return;
    const observer = new ResizeObserver(([entry]) => {
      const next = Math.round(entry.contentRect.width);
      if (next > 0) setWidth(next);
    });
    observer.observe(element);
    return () => observer.disconnect();
  }, []);
  return [ref, width];
}

const truncate = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

export interface ShapWaterfallProps {
  /** Names the chart, e.g. "Row 1". */
  title: string;
  base: number;
  contributions: Record<string, number>;
  /** What the values add up to, e.g. "log-odds". */
  output?: string | null;
  /** The prediction the row got, for the summary. */
  prediction?: string;
  top?: number;
}

export function ShapWaterfall({ title, base, contributions, output, prediction, top = 8 }: ShapWaterfallProps) {
  const { steps, end } = waterfallSteps(base, contributions, top);
  const [box, width] = useWidth(560);
  const captionId = useId();
  const units = output ? ` ${output}` : "";
  const narrow = width < 520;
  const labelW = narrow ? 0 : Math.min(210, Math.round(width * 0.34));
  const valueW = 64;
  const pad = 8;
  const plotX = labelW + pad;
  const plotW = Math.max(80, width - plotX - (narrow ? pad : valueW) - pad);
  const lineH = narrow ? 40 : 26;
  const barH = 14;
  const points = [base, end, ...steps.flatMap((s) => [s.start, s.end])];
  let lo = Math.min(...points);
  let hi = Math.max(...points);
  if (hi - lo < 1e-9) {
    lo -= 1;
    hi += 1;
  }
  const x = (v: number) => plotX + ((v - lo) / (hi - lo)) * plotW;
  const rows = [
    { kind: "base" as const, label: "Base value", value: base },
    ...steps.map((s) => ({ kind: "step" as const, ...s })),
    { kind: "end" as const, label: prediction ? `Output (${truncate(prediction, 28)})` : "Output", value: end },
  ];
  const height = rows.length * lineH + 10;
  const first = steps[0];
  const summary =
    `${title}: SHAP waterfall from the base value ${formatValue(base)} to ${formatValue(end)}${units}` +
    (prediction ? ` (prediction ${prediction})` : "") +
    (first ? `; the largest contribution is ${first.label} ${formatValue(first.value, true)}` : "") +
    (steps[1] ? `, then ${steps[1].label} ${formatValue(steps[1].value, true)}` : "") +
    ".";

  return (
    <figure className="space-y-2" aria-describedby={captionId}>
      <div ref={box} className="w-full">
        <svg
          role="img"
          aria-label={summary}
          width={width}
          height={height}
          viewBox={`0 0 ${width} ${height}`}
          className="block max-w-full text-slate-700 dark:text-slate-200"
        >
          {rows.map((row, i) => {
            const top = i * lineH + 4;
            const barY = narrow ? top + 18 : top + (lineH - barH) / 2 - 2;
            const textY = narrow ? top + 12 : barY + barH - 3;
            if (row.kind !== "step") {
              const cx = x(row.value);
              return (
                <g key={`${row.kind}-${i}`}>
                  <text x={narrow ? 0 : labelW} y={textY} textAnchor={narrow ? "start" : "end"} fontSize="12"
                    fontWeight="600" fill="currentColor">
                    {truncate(row.label, narrow ? 40 : 30)}
                    {narrow ? ` = ${formatValue(row.value)}` : ""}
                  </text>
                  <line x1={cx} x2={cx} y1={barY - 2} y2={barY + barH + 2} stroke="currentColor" strokeWidth="2" />
                  <line x1={cx} x2={cx} y1={barY + barH + 2} y2={row.kind === "base" ? barY + lineH : barY + barH + 2}
                    stroke="currentColor" strokeDasharray="2 3" strokeWidth="1" opacity="0.6" />
                  {!narrow && (
                    <text x={Math.min(cx + 6, width - valueW)} y={textY} fontSize="12" fontWeight="600" fill="currentColor">
                      {formatValue(row.value)}
                    </text>
                  )}
                </g>
              );
            }
            const x0 = x(row.start);
            const x1 = x(row.end);
            const up = row.value >= 0;
            const left = Math.min(x0, x1);
            const length = Math.abs(x1 - x0);
            const tip = Math.min(6, length);
            // an arrow pointing the way the feature moves the output
            const shape = up
              ? `${left},${barY} ${left + length - tip},${barY} ${left + length},${barY + barH / 2} ${left + length - tip},${barY + barH} ${left},${barY + barH}`
              : `${left + length},${barY} ${left + tip},${barY} ${left},${barY + barH / 2} ${left + tip},${barY + barH} ${left + length},${barY + barH}`;
            const valueText = formatValue(row.value, true);
            const afterBar = up ? left + length + 4 : left - 4;
            return (
              <g key={`step-${i}`}>
                <title>{`${row.label}: ${valueText}`}</title>
                <text x={narrow ? 0 : labelW} y={textY} textAnchor={narrow ? "start" : "end"} fontSize="12"
                  fill="currentColor">
                  {truncate(row.label, narrow ? 34 : 30)}
                  {narrow ? `  ${valueText}` : ""}
                </text>
                <polygon points={shape} className={up ? "fill-rose-600 dark:fill-rose-400" : "fill-sky-600 dark:fill-sky-400"} />
                <line x1={x1} x2={x1} y1={barY + barH} y2={barY + lineH} stroke="currentColor" strokeDasharray="2 3"
                  strokeWidth="1" opacity="0.6" />
                {!narrow && (
                  <text x={afterBar} y={textY} textAnchor={up ? "start" : "end"} fontSize="11" fill="currentColor">
                    {valueText}
                  </text>
                )}
              </g>
            );
          })}
        </svg>
      </div>
      <figcaption id={captionId} className="text-xs text-slate-600 dark:text-slate-400">
        Starts at the base value (the model's average output), each arrow is one feature's SHAP contribution:
        pointing right (+) it raises the output, left (−) it lowers it.{output ? ` Units: ${output}.` : ""}
      </figcaption>
      {/* sr-only on a wrapper: a table box ignores overflow, so it would not clip itself */}
      <div className="sr-only">
      <table>
        <caption>{`${title}: SHAP contributions`}</caption>
        <thead>
          <tr>
            <th scope="col">Step</th>
            <th scope="col">Contribution</th>
            <th scope="col">Running output</th>
          </tr>
        </thead>
        <tbody>
          <tr>
            <th scope="row">Base value</th>
            <td />
            <td>{formatValue(base)}</td>
          </tr>
          {steps.map((s) => (
            <tr key={s.label}>
              <th scope="row">{s.label}</th>
              <td>{formatValue(s.value, true)}</td>
              <td>{formatValue(s.end)}</td>
            </tr>
          ))}
          <tr>
            <th scope="row">Output</th>
            <td />
            <td>{formatValue(end)}</td>
          </tr>
        </tbody>
      </table>
      </div>
    </figure>
  );
}
