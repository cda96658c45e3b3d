/** A tiny line of a device's recent values on a canvas: no axes, no library, one path. */
export const drawSparkline = (canvas: HTMLCanvasElement, x: ArrayLike<number>, y: ArrayLike<number | null> | undefined, color: string, maxPoints = 60): void => {
  const context = canvas.getContext('2d');
  if (!context || !y) return;
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || 96;
  const height = canvas.clientHeight || 20;
  if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
  if (canvas.height !== Math.round(height * ratio)) canvas.height = Math.round(height * ratio);
  context.setTransform(ratio, 0, 0, ratio, 0, 0);
  context.clearRect(0, 0, width, height);
  const from = Math.max(0, x.length - maxPoints);
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = from; i < x.length; i++) {
    const v = y[i];
    if (v === null || v === undefined || Number.isNaN(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (lo === Infinity || x.length - from < 2) return;
  const x0 = x[from]!;
  const span = x[x.length - 1]! - x0 || 1;
  const range = hi - lo || 1;
  context.beginPath();
  let started = false;
  for (let i = from; i < x.length; i++) {
    const v = y[i];
    if (v === null || v === undefined || Number.isNaN(v)) continue;
    const px = ((x[i]! - x0) / span) * (width - 2) + 1;
    const py = height - 2 - ((v - lo) / range) * (height - 4);
    if (started) context.lineTo(px, py);
    else context.moveTo(px, py);
    started = true;
  }
  context.strokeStyle = color;
  context.lineWidth = 1.25;
  context.stroke();
};
