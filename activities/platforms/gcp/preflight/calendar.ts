// `dbmig gcp check`: for each database that would get calendar-mode capacity, Compute's
// calendar-mode advice for the window a reservation made now would ask (compute/advice.ts). The dry
// run sends nothing, so this is where the answer is seen before a run: OK when Google recommends
// the plan's zone, WARN on NO_CAPACITY (the capacity step would wait), FIX when calendar mode will
// not take the request there (NOT_SUPPORTED, CONDITIONS_NOT_MET).
import { byPriority, capacityMode, workerCount } from '../../../../common/capacity';
import { calendarAdviceRequest, readAdvice } from '../compute/advice';
import { calendarWindow } from '../compute/calendar';
import { failedRead, row, type CheckContext, type CheckResult } from './checks';

const CHECK = 'calendar-mode capacity';
/** At most 80 VMs per calendar-mode request (create-future-reservations-calendar-mode). */
const MAX_VMS = 80;

export async function checkCalendarAdvice({ plan, gcp, c, timeout }: CheckContext): Promise<CheckResult[]> {
  const calendar = byPriority(plan.databases).filter((db) => capacityMode(db.priority, gcp.machineType) === 'calendar');
  const results: CheckResult[] = [];
  for (const db of calendar) {
    const count = Math.min(MAX_VMS, workerCount(db.sizeGb));
    const window = calendarWindow(Date.now());
    const doing = `${db.name}: calendar-mode advice for ${count} x ${gcp.machineType} in ${gcp.zone}`;
    try {
      const [answer] = await c.advice.calendarMode(calendarAdviceRequest({ gcp }, window, count), { timeout });
      const advice = readAdvice({ gcp }, answer);
      if (advice.available) results.push(row(CHECK, 'OK', `${doing}: ${advice.detail}`));
      else if (advice.status === 'NO_CAPACITY' || advice.status === 'NOT_RECOMMENDED')
        results.push(
          row(CHECK, 'WARN', `${doing}: ${advice.detail}`, 'the capacity step will wait until Google has it'),
        );
      else
        results.push(
          row(
            CHECK,
            'FIX',
            `${doing}: ${advice.detail}`,
            'choose another zone or machine type, or a lower priority (flex-start)',
          ),
        );
    } catch (err) {
      results.push(failedRead(CHECK, doing, err, 'compute.advice.calendarMode'));
    }
  }
  return results;
}
