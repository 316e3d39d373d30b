// Request ids, read from the proto comment of each method's `request_id` field, so every API gets
// the rule its own definition states:
// - clouddms v1 (clouddms.proto, e.g. CreateMigrationJobRequest.request_id): "The ID must contain
//   only letters (a-z, A-Z), numbers (0-9), underscores (_), and hyphens (-). The maximum length is
//   40 characters."
// - alloydb v1 (service.proto, e.g. CreateClusterRequest.request_id) and compute v1 (compute.proto,
//   e.g. InsertFutureReservationRequest.request_id): "The request ID must be a valid UUID with the
//   exception that zero UUID is not supported (00000000-0000-0000-0000-000000000000)."
// The same comments promise the server remembers an id "for at least 60 minutes since the first
// request" and ignores a second request carrying it.
import type * as protobuf from 'protobufjs';
import { fieldOf } from './validate';

export interface RequestIdRule {
  /** Why an id is refused, or undefined when it is acceptable. */
  check(id: string): string | undefined;
  /** Where the rule comes from. */
  source: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ZERO_UUID = '00000000-0000-0000-0000-000000000000';

const rules = new WeakMap<protobuf.Type, RequestIdRule | null>();

/** The request-id rule of a request message, or undefined when it has no request_id field. */
export function requestIdRule(type: protobuf.Type): RequestIdRule | undefined {
  if (rules.has(type)) return rules.get(type) ?? undefined;
  const f = fieldOf(type, 'request_id');
  let rule: RequestIdRule | null = null;
  if (f) {
    const comment = (f.comment ?? '').replace(/\s+/g, ' ');
    const source = `${f.filename?.replace(/^.*\/(google\/)/, '$1') ?? type.fullName} ${type.name}.request_id`;
    const max = /maximum length is (\d+)/i.exec(comment);
    if (/must be a valid UUID/i.test(comment)) {
      const zeroBanned = /zero UUID is not supported/i.test(comment);
      rule = {
        source,
        check: (id) =>
          !UUID.test(id)
            ? 'must be a valid UUID'
            : zeroBanned && id === ZERO_UUID
              ? 'the zero UUID is not supported'
              : undefined,
      };
    } else if (/only letters.*numbers.*underscores.*hyphens/i.test(comment)) {
      const limit = max ? Number(max[1]) : Infinity;
      rule = {
        source,
        check: (id) =>
          !/^[A-Za-z0-9_-]+$/.test(id)
            ? 'must contain only letters, numbers, underscores and hyphens'
            : id.length > limit
              ? `must be at most ${limit} characters`
              : undefined,
      };
    } else rule = { source, check: () => undefined };
  }
  rules.set(type, rule);
  return rule ?? undefined;
}

/** Default dedupe window: the "at least 60 minutes" the request_id comments promise. */
export const DEDUPE_WINDOW_MS = 60 * 60_000;

/** A clock the tests can move forward, so a dedupe window can pass in no time. */
export class FakeClock {
  private offset = 0;
  now(): number {
    return Date.now() + this.offset;
  }
  advance(ms: number): void {
    this.offset += ms;
  }
}
