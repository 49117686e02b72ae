// A small time-series chart on a <canvas>, bundled with the console (nothing is fetched at run time).
//   const c = new MMChart(canvasElement, {title: "PnL", series: [{name: "pnl", color: "#6cf", step: true}]});
//   c.setData(times_ms, [values_of_series_0, ...], markers);  // a value may be null (a gap)
// markers: [{t: ms, v: value, color: "#6d6", shape: "up" | "down"}], drawn over the lines.
"use strict";
class MMChart {
  constructor(canvas, opts) {
    this.canvas = canvas;
    this.opts = Object.assign({title: "", series: [], decimals: 2}, opts);
    this.t = []; this.ys = []; this.markers = [];
    this.points = 0;  // how many points were drawn last time (read by tests)
  }
  setData(t, ys, markers) {
    this.t = t; this.ys = ys; this.markers = markers || [];
    this.draw();
  }
  _range() {
    let lo = Infinity, hi = -Infinity;
    const see = v => { if (v !== null && v !== undefined && isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); } };
    this.ys.forEach(s => s.forEach(see));
    this.markers.forEach(m => see(m.v));
    if (lo === Infinity) return [0, 1];
    if (hi === lo) { const pad = Math.abs(lo) * 1e-4 || 1; return [lo - pad, hi + pad]; }
    const pad = (hi - lo) * 0.06;
    return [lo - pad, hi + pad];
  }
  draw() {
    const c = this.canvas, ratio = window.devicePixelRatio || 1;
    const w = c.clientWidth || 480, h = c.clientHeight || 180;
    if (c.width !== Math.round(w * ratio)) { c.width = Math.round(w * ratio); c.height = Math.round(h * ratio); }
    const g = c.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, w, h);
    const L = 64, R = 8, T = 18, B = 20, pw = w - L - R, ph = h - T - B;
    g.font = "11px system-ui, sans-serif"; g.fillStyle = "#9cf"; g.textBaseline = "top";
    g.fillText(this.opts.title, L, 2);
    let x = L + g.measureText(this.opts.title).width + 12;
    this.opts.series.forEach(s => { g.fillStyle = s.color; g.fillText("■ " + s.name, x, 2); x += g.measureText("■ " + s.name).width + 10; });
    const n = this.t.length;
    g.strokeStyle = "#333"; g.strokeRect(L, T, pw, ph);
    this.points = 0;
    if (n < 1) { g.fillStyle = "#666"; g.fillText("waiting for data…", L + 8, T + 8); return; }
    const t0 = this.t[0], t1 = Math.max(this.t[n - 1], t0 + 1000);
    const [lo, hi] = this._range();
    const X = t => L + (t - t0) / (t1 - t0) * pw, Y = v => T + (hi - v) / (hi - lo) * ph;
    g.fillStyle = "#888"; g.textBaseline = "middle"; g.textAlign = "right";
    for (let i = 0; i <= 4; i++) {
      const v = lo + (hi - lo) * i / 4, y = Y(v);
      g.fillText(v.toFixed(this.opts.decimals), L - 4, y);
      g.strokeStyle = "#222"; g.beginPath(); g.moveTo(L + 1, y); g.lineTo(L + pw - 1, y); g.stroke();
    }
    g.textAlign = "center"; g.textBaseline = "top";
    for (let i = 0; i <= 3; i++) {
      const t = t0 + (t1 - t0) * i / 3;
      g.fillText(new Date(t).toISOString().slice(11, 19), Math.min(Math.max(X(t), L + 24), L + pw - 24), T + ph + 4);
    }
    g.textAlign = "left";
    this.opts.series.forEach((s, k) => {
      const ys = this.ys[k] || [];
      g.strokeStyle = s.color; g.lineWidth = s.width || 1.5; g.beginPath();
      let pen = false, lastY = 0;
      for (let i = 0; i < n; i++) {
        const v = ys[i];
        if (v === null || v === undefined || !isFinite(v)) { pen = false; continue; }
        const px = X(this.t[i]), py = Y(v);
        if (!pen) g.moveTo(px, py);
        else if (s.step) { g.lineTo(px, lastY); g.lineTo(px, py); }
        else g.lineTo(px, py);
        pen = true; lastY = py; this.points++;
      }
      g.stroke();
    });
    this.markers.forEach(m => {
      if (m.t < t0 || m.t > t1) return;
      const px = X(m.t), py = Y(m.v), d = 5 * (m.shape === "down" ? -1 : 1);
      g.fillStyle = m.color; g.beginPath();
      g.moveTo(px, py); g.lineTo(px - 4, py + d); g.lineTo(px + 4, py + d); g.closePath(); g.fill();
      this.points++;
    });
  }
}
window.MMChart = MMChart;
