// What the cutover and rollback tests on real clusters both check: a platform failure of a given
// type and message, and the rows of the migrated `items` table.
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { withClient, type ConnectionParams } from '../../activities/engines/postgres/sessions';
import { MigrationError } from '../../common/failures';

/** An assert.rejects predicate: a MigrationError of `type` whose message matches; printed as a diagnostic. */
export function isMigrationError(type: string, pattern: RegExp, t?: TestContext) {
  return (err: unknown) => {
    assert.ok(err instanceof MigrationError, `not a MigrationError: ${String(err)}`);
    assert.equal(err.type, type, err.message);
    assert.match(err.message, pattern);
    t?.diagnostic(`${type}: ${err.message}`);
    return true;
  };
}

/** Rows of `items` matching `where`, through `p`. */
export const count = (p: ConnectionParams, where = 'true') =>
  withClient(p, async (c) => Number((await c.query(`select count(*) as n from items where ${where}`)).rows[0].n));
