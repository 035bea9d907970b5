-- The sequencer's candidate bound was the snapshot's xmax (one past the latest transaction to have
-- ended), which a writer still in flight can lie at or above: the horizon could pass that writer's
-- ids, and its entries, committed later, were never integrated. The bound is now the noting pass's
-- own transaction id (src/audit/audit.queries.ts, SequencerHorizon). Entries left behind so are
-- found once, here, and the horizon is reopened just below the first of them: the sequencer
-- integrates them, in id order, after the entries it already holds (nothing integrated moves).
-- Finding them reads both tables' id indexes once. The candidate noted the old way is dropped.
-- No audit_log insert may be in flight while the first entry left behind is looked for (as in
-- 0019): SHARE waits for every transaction that inserted an entry to end, and holds new ones back.
LOCK TABLE "audit_log" IN SHARE MODE;
--> statement-breakpoint
UPDATE "audit_sequencer_horizon" SET
  "integrated_through" = LEAST("integrated_through", COALESCE((
    SELECT min(a."id") - 1 FROM "audit_log" AS a
    WHERE NOT EXISTS (SELECT 1 FROM "audit_positions" AS p WHERE p."entry_id" = a."id")),
    "integrated_through")),
  "candidate_id" = NULL,
  "candidate_xid" = NULL;
