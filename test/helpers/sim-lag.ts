// Lag curves the simulated platform's tests share (common/sim-plan.ts `lag`).

/** A small lag wandering up and down by a few seconds for a minute: noise, not a trend. */
export const WANDERING_LAG = [
  { after: '0s', seconds: 1 },
  { after: '10s', seconds: 3 },
  { after: '20s', seconds: 1 },
  { after: '30s', seconds: 4 },
  { after: '40s', seconds: 0.5 },
  { after: '50s', seconds: 3.5 },
  { after: '60s', seconds: 1 },
];
