// Thin helpers over Chart.js (loaded as the global `Chart` from vendor/chart.umd.min.js).

const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
  "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

export const PHASES = [
  { key: "train_s", label: "local training", color: "#c7c9cc" },
  { key: "check_in_s", label: "chain (check-in)", color: "#1f77b4" },
  { key: "wait_s", label: "wait", color: "#ff7f0e" },
  { key: "transfer_s", label: "transfer", color: "#2ca02c" },
  { key: "merge_s", label: "merge", color: "#9467bd" },
];

export function colour(index) {
  return PALETTE[index % PALETTE.length];
}

export function lineChart(canvas, yTitle) {
  return new Chart(canvas, {
    type: "line",
    data: { datasets: [] },
    options: {
      animation: false,
      maintainAspectRatio: false,
      parsing: false,
      scales: {
        x: { type: "linear", title: { display: true, text: "sync step" }, ticks: { precision: 0 } },
        y: { title: { display: true, text: yTitle } },
      },
      plugins: { legend: { position: "bottom" } },
    },
  });
}

// series: [{label, colour, points: [{x, y}]}]
export function setLines(chart, series, yTitle) {
  chart.data.datasets = series.map((s) => ({
    label: s.label,
    address: s.address,
    data: s.points,
    borderColor: s.colour,
    backgroundColor: s.colour,
    pointRadius: 2,
    tension: 0,
  }));
  chart.options.scales.y.title.text = yTitle;
  chart.update("none");
}

export function stackedBars(canvas) {
  return new Chart(canvas, {
    type: "bar",
    data: { labels: [], datasets: PHASES.map((p) => ({ label: p.label, data: [], backgroundColor: p.color })) },
    options: {
      animation: false,
      maintainAspectRatio: false,
      indexAxis: "y",
      scales: {
        x: { stacked: true, title: { display: true, text: "seconds" } },
        y: { stacked: true, title: { display: true, text: "sync step" } },
      },
      plugins: { legend: { position: "bottom" } },
    },
  });
}

// rows: [{label, timings}] in display order
export function setBars(chart, rows) {
  chart.data.labels = rows.map((r) => r.label);
  PHASES.forEach((phase, i) => {
    chart.data.datasets[i].data = rows.map((r) => r.timings[phase.key] ?? 0);
  });
  chart.update("none");
}
