-- The scan log, partitioned by month of `at` (UTC). drizzle-kit cannot express PARTITION BY: this
-- migration was generated for the new primary key (id, at) and written out by hand.
-- Rows logged before this month stay where they are, attached whole as one partition
-- (mark_scans_before_YYYY_MM, no copy); rows of this month and later are copied into their months.
ALTER TABLE "mark_scans" RENAME TO "mark_scans_unpartitioned";--> statement-breakpoint
ALTER TABLE "mark_scans_unpartitioned" RENAME CONSTRAINT "mark_scans_pkey" TO "mark_scans_unpartitioned_pkey";--> statement-breakpoint
ALTER INDEX "mark_scans_serial_at" RENAME TO "mark_scans_unpartitioned_serial_at";--> statement-breakpoint
CREATE TABLE "mark_scans" (
	"id" bigint DEFAULT nextval('mark_scans_id_seq') NOT NULL,
	"serial" bigint,
	"at" timestamp with time zone NOT NULL,
	"region" text,
	"lat" double precision,
	"lon" double precision,
	"caller_role" text,
	"channel" text NOT NULL,
	"verdict" text NOT NULL,
	"reasons" text[] NOT NULL,
	"counted" boolean DEFAULT true NOT NULL,
	CONSTRAINT "mark_scans_pkey" PRIMARY KEY("id","at")
) PARTITION BY RANGE ("at");--> statement-breakpoint
ALTER SEQUENCE "mark_scans_id_seq" OWNED BY "mark_scans"."id";--> statement-breakpoint
CREATE INDEX "mark_scans_serial_at" ON "mark_scans" USING btree ("serial","at");--> statement-breakpoint
-- The partition of the month holding `instant` (UTC), created unless it, or a partition
-- overlapping it, exists. Built as a table of its own and then attached: ATTACH PARTITION takes
-- only a SHARE UPDATE EXCLUSIVE lock on mark_scans, so scans are written and read meanwhile.
-- Returns whether it created the partition. Several instances may call it at once.
CREATE FUNCTION mark_scans_ensure_month(instant timestamptz) RETURNS boolean AS $$
DECLARE
  month_start timestamp := date_trunc('month', instant AT TIME ZONE 'UTC');
  lower_bound timestamptz := month_start AT TIME ZONE 'UTC';
  upper_bound timestamptz := (month_start + interval '1 month') AT TIME ZONE 'UTC';
  partition_name text := 'mark_scans_' || to_char(month_start, 'YYYY_MM');
BEGIN
  IF to_regclass(partition_name) IS NOT NULL THEN
    RETURN false;
  END IF;
  BEGIN
    EXECUTE format('CREATE TABLE %I (LIKE mark_scans INCLUDING DEFAULTS)', partition_name);
    EXECUTE format('ALTER TABLE mark_scans ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
      partition_name, lower_bound, upper_bound);
  EXCEPTION
    -- Another instance created it first, or the rows from before partitioning cover the month.
    WHEN duplicate_table OR invalid_object_definition THEN
      RETURN false;
  END;
  RETURN true;
END;
$$ LANGUAGE plpgsql;--> statement-breakpoint
DO $$
DECLARE
  this_month timestamptz := date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
  later_month timestamptz;
BEGIN
  FOR later_month IN
    SELECT DISTINCT date_trunc('month', "at" AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
    FROM mark_scans_unpartitioned WHERE "at" >= this_month
  LOOP
    PERFORM mark_scans_ensure_month(later_month);
  END LOOP;
  INSERT INTO mark_scans (id, serial, "at", region, lat, lon, caller_role, channel, verdict, reasons, counted)
    SELECT id, serial, "at", region, lat, lon, caller_role, channel, verdict, reasons, counted
    FROM mark_scans_unpartitioned WHERE "at" >= this_month;
  DELETE FROM mark_scans_unpartitioned WHERE "at" >= this_month;
  IF EXISTS (SELECT 1 FROM mark_scans_unpartitioned) THEN
    -- ATTACH builds the (id, at) key the partitioned table requires.
    ALTER TABLE mark_scans_unpartitioned DROP CONSTRAINT mark_scans_unpartitioned_pkey;
    ALTER TABLE mark_scans_unpartitioned ALTER COLUMN id DROP DEFAULT;
    EXECUTE format('ALTER TABLE mark_scans_unpartitioned RENAME TO %I',
      'mark_scans_before_' || to_char(this_month AT TIME ZONE 'UTC', 'YYYY_MM'));
    EXECUTE format('ALTER TABLE mark_scans ATTACH PARTITION %I FOR VALUES FROM (MINVALUE) TO (%L)',
      'mark_scans_before_' || to_char(this_month AT TIME ZONE 'UTC', 'YYYY_MM'), this_month);
  ELSE
    ALTER TABLE mark_scans_unpartitioned ALTER COLUMN id DROP DEFAULT;
    DROP TABLE mark_scans_unpartitioned;
  END IF;
  PERFORM mark_scans_ensure_month(this_month);
  PERFORM mark_scans_ensure_month(this_month + interval '32 days');
END $$;
