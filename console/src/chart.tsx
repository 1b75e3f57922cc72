// Time-series charts on uPlot (small, fast canvas charts): lines, or areas stacked
// one on another, resized with their container, values on hover in the legend.
import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { formatCount, formatRate, formatShort } from "./format.js";

const dayFormat = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });

export const palette = ["#2563eb", "#16a34a", "#ea580c", "#9333ea", "#0891b2", "#db2777", "#ca8a04", "#4b5563", "#65a30d", "#dc2626"];

export interface ChartSeries {
  label: string;
  values: readonly number[];
}

export interface ChartProps {
  /** Seconds since the epoch, one per value, ascending. */
  times: readonly number[];
  series: readonly ChartSeries[];
  /** Stacked areas (the series add up) or lines. */
  stacked?: boolean;
  /** Values are rates (one decimal) rather than counts. */
  rates?: boolean;
  height?: number;
  /** What the chart shows, for screen readers (the legend carries the values). */
  label: string;
  /** Only dates on the time axis (daily data). */
  daily?: boolean;
}

export function Chart({ times, series, stacked = false, rates = false, height = 220, label, daily = false }: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = box.current;
    if (element === null) return;
    const ink = getComputedStyle(element).color;
    const grid = "rgba(128,128,128,0.2)";
    const show = (v: number | null | undefined) => (v === null || v === undefined ? "–" : rates ? formatRate(v) : formatCount(Math.round(v)));
    // Stacked: each drawn series is the running sum of those below it, drawn from the
    // top one down so that each fill covers the one before; the legend shows the own values.
    const order = stacked ? series.map((_, i) => series.length - 1 - i) : series.map((_, i) => i);
    const sums = series.map((_, i) => times.map((_, t) => series.slice(0, i + 1).reduce((sum, s) => sum + (s.values[t] ?? 0), 0)));
    const data: uPlot.AlignedData = [Float64Array.from(times), ...order.map((i) => Float64Array.from(stacked ? (sums[i] ?? []) : (series[i]?.values ?? [])))];
    const plot = new uPlot(
      {
        width: Math.max(200, element.clientWidth),
        height,
        scales: { x: { time: true } },
        axes: [
          { stroke: ink, grid: { stroke: grid }, ticks: { stroke: grid }, ...(daily ? { values: (_u: uPlot, ticks: number[]) => ticks.map((t) => dayFormat.format(new Date(t * 1000))) } : {}) },
          { stroke: ink, grid: { stroke: grid }, ticks: { stroke: grid }, size: 60, values: (_u: uPlot, ticks: number[]) => ticks.map((t) => show(t)) },
        ],
        series: [
          { label: "Time", value: (_u, v) => (v === null ? "–" : daily ? new Date(v * 1000).toLocaleDateString() : formatShort(new Date(v * 1000))) },
          ...order.map((i) => {
            const color = palette[i % palette.length] ?? "#888";
            return {
              label: series[i]?.label ?? "",
              stroke: color,
              width: stacked ? 1 : 2,
              ...(stacked ? { fill: color } : {}),
              value: (_u: uPlot, _v: number | null, _s: number, index: number | null) => show(index === null ? null : (series[i]?.values[index] ?? null)),
            } satisfies uPlot.Series;
          }),
        ],
        legend: { live: true },
        cursor: { drag: { x: false, y: false } },
      },
      data,
      element,
    );
    const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(200, element.clientWidth), height }));
    resize.observe(element);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [times, series, stacked, rates, height, daily]);
  return <div ref={box} className="chart" role="img" aria-label={label} />;
}
