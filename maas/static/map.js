// The map of an itinerary: its legs drawn from the stops' coordinates as SVG (no tiles).

const NS = "http://www.w3.org/2000/svg";
const W = 320, H = 200, PAD = 22;

function el(tag, attrs) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

// legs: [{mode, from: {name, lat, lon}, to: {...}}] -> an <svg> element
export function routeMap(legs, label) {
  const points = legs.flatMap((l) => [l.from, l.to]);
  const lat0 = points.reduce((s, p) => s + p.lat, 0) / points.length;
  const kx = Math.cos((lat0 * Math.PI) / 180);   // equirectangular, true to scale near lat0
  const xs = points.map((p) => p.lon * kx), ys = points.map((p) => -p.lat);
  const minX = Math.min(...xs), maxX = Math.max(...xs), minY = Math.min(...ys), maxY = Math.max(...ys);
  const span = Math.max(maxX - minX, (maxY - minY) * ((W - 2 * PAD) / (H - 2 * PAD)), 1e-6);
  const scale = (W - 2 * PAD) / span;
  const offX = (W - (maxX - minX) * scale) / 2, offY = (H - (maxY - minY) * scale) / 2;
  const at = (p) => [offX + (p.lon * kx - minX) * scale, offY + (-p.lat - minY) * scale];

  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, class: "map", role: "img", "aria-label": label });
  svg.append(el("rect", { x: 0, y: 0, width: W, height: H, class: "map-bg" }));
  for (const leg of legs) {
    const [x1, y1] = at(leg.from), [x2, y2] = at(leg.to);
    svg.append(el("line", { x1, y1, x2, y2, class: `map-leg mode-${leg.mode}` }));
  }
  // the journey's ends first: their names win where labels would overlap, their dots lie on top
  const places = legs.flatMap((leg, i) => [[leg.from, i === 0], [leg.to, i === legs.length - 1]]);
  places.sort((a, b) => Number(b[1]) - Number(a[1]));
  const seen = new Set(), labelled = [], dots = [], labels = [];
  for (const [p, end] of places) {
    const key = `${p.lat.toFixed(4)},${p.lon.toFixed(4)}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const [x, y] = at(p);
    dots.unshift(el("circle", { cx: x, cy: y, r: end ? 6 : 4, class: end ? "map-end" : "map-stop" }));
    if (labelled.some(([lx, ly]) => Math.abs(lx - x) < 70 && Math.abs(ly - y) < 14)) continue;
    labelled.push([x, y]);
    const right = x > W / 2;   // names run towards the middle, never off the edge
    const text = el("text", { x: right ? x - 9 : x + 9, y: y < 24 ? y + 16 : y - 7,
      "text-anchor": right ? "end" : "start", class: end ? "map-label end" : "map-label" });
    text.textContent = p.name;
    labels.push(text);
  }
  svg.append(...dots, ...labels);
  return svg;
}
