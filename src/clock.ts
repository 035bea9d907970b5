/** The service's notion of "now", passed in so tests can fix it. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** A clock that stays where it is set: for tests. */
export function fixedClock(
  start: Date | string,
): Clock & { set(to: Date | string): void; advance(ms: number): void } {
  let current = new Date(start);
  return {
    now: () => new Date(current),
    set: (to) => {
      current = new Date(to);
    },
    advance: (ms) => {
      current = new Date(current.getTime() + ms);
    },
  };
}

/**
 * The time of a change to a record whose last change was at `previous`: now, or `previous` when this
 * clock reads earlier (another instance's clock running behind). Read it after taking the record's
 * row lock: a change that waited for the lock then always carries a later time than the change it
 * waited for, so a history ordered by time is the order the changes were made in.
 */
export function changeTime(clock: Clock, previous: Date | null | undefined): Date {
  const now = clock.now();
  return previous && previous.getTime() > now.getTime() ? new Date(previous) : now;
}
