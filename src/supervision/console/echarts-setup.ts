import { use } from 'echarts/core';
import { BarChart, LineChart, LinesChart, MapChart, ScatterChart } from 'echarts/charts';
import {
  AriaComponent,
  GeoComponent,
  GridComponent,
  LegendComponent,
  TooltipComponent,
  VisualMapComponent,
} from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';

// The parts of ECharts the console draws with, and nothing else (the bundle stays small). Its own
// module, imported first: a map can only be registered once the map chart is installed.
use([
  BarChart,
  LineChart,
  LinesChart,
  MapChart,
  ScatterChart,
  AriaComponent,
  GeoComponent,
  GridComponent,
  LegendComponent,
  TooltipComponent,
  VisualMapComponent,
  CanvasRenderer,
]);
