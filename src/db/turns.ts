import { clientQuery, type Queryable } from './client';

/** The records whose changes wait their turn behind readers, and hold later readers off. */
export type TurnRecord = 'issuer' | 'certificate';

/**
 * Takes a turn at a record for the rest of the transaction: `read` shares it with other readers,
 * `change` has it alone. Taken before the record's row lock, as its own statement (a statement's
 * snapshot is taken before any wait inside it, so the row is read after the wait).
 *
 * Why not the row lock alone: PostgreSQL grants FOR SHARE at once to a transaction that finds the
 * row held FOR SHARE by others, even while a FOR UPDATE waits. Issuance reads its issuer that way,
 * and historical verification its issuer and certificate, so a steady stream of them kept the
 * holders from ever reaching none: a supervisor's suspension of an issuer issuing in bulk, or a
 * key's rotation, waited until the statement timeout and failed (an outside probe: 7 of 11
 * suspensions under 3–8 issuing clients). A transaction-scoped advisory lock is queued fairly by
 * PostgreSQL's lock manager: once a change waits for it, readers that come later wait behind the
 * change, so a change waits only for the readers already inside.
 *
 * Every reader and every change of these records takes its turn first, issuer before certificate
 * (the order their row locks are taken in), so no two wait for each other.
 */
export async function takeTurn(
  tx: Queryable,
  record: TurnRecord,
  id: string,
  purpose: 'read' | 'change',
): Promise<void> {
  await clientQuery(
    tx,
    purpose === 'change' ? 'turn_change' : 'turn_read',
    purpose === 'change'
      ? 'SELECT pg_advisory_xact_lock(hashtextextended($1, 0))'
      : 'SELECT pg_advisory_xact_lock_shared(hashtextextended($1, 0))',
    [`certmark/turn/${record}/${id}`],
  );
}
