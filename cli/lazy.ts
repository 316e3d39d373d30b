// Modules loaded when their command runs, not when `dbmig` starts: they load the platforms, and
// with them the Google Cloud libraries, seconds that `dbmig status` or `--version` should not wait.
/* eslint-disable @typescript-eslint/no-require-imports */
export const lazy = {
  plan: () => ({
    ...(require('./plan-report') as typeof import('./plan-report')),
    ...(require('./plan-cost') as typeof import('./plan-cost')),
  }),
  rehearse: () => require('./rehearse') as typeof import('./rehearse'),
  forecast: () => require('./forecast') as typeof import('./forecast'),
  forecastReport: () => require('./forecast-report') as typeof import('./forecast-report'),
  gcp: () => require('./commands-gcp') as typeof import('./commands-gcp'),
  worker: () => ({
    ...(require('../worker/main') as typeof import('../worker/main')),
    ...(require('../worker/config') as typeof import('../worker/config')),
  }),
};
