-- Consumers' reports kept what the reporter scanned or typed as given, in the report and in its
-- alert's context, so a genuine mark's full code (or its /m/<code> URL) reached every supervisor
-- (SPEC "Product marks": only the owning issuer can obtain a mark's code). A report now keeps the
-- code cut as request logs cut it (src/http/redact.ts, redactText): every run of 24 or more
-- base32 / base64url characters but a UUID becomes its first 8 characters and "…". The rows
-- written before are cut here the same way; the report's subject already names the mark by its
-- serial. Neither table has a trigger against updates. The audit log (append-only by trigger) was
-- never given a report's code or an alert's context: nothing there to cut.
-- The pattern: a run's start (lookbehind), not a UUID standing alone (lookahead), its first 8
-- characters kept, and at least 16 more.
UPDATE "reports" SET
  "code" = regexp_replace("code",
    '(?<![A-Za-z0-9_-])(?![0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}(?![A-Za-z0-9_-]))([A-Za-z0-9_-]{8})[A-Za-z0-9_-]{16,}',
    '\1…', 'g'),
  "description" = regexp_replace("description",
    '(?<![A-Za-z0-9_-])(?![0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}(?![A-Za-z0-9_-]))([A-Za-z0-9_-]{8})[A-Za-z0-9_-]{16,}',
    '\1…', 'g'),
  "contact" = regexp_replace("contact",
    '(?<![A-Za-z0-9_-])(?![0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}(?![A-Za-z0-9_-]))([A-Za-z0-9_-]{8})[A-Za-z0-9_-]{16,}',
    '\1…', 'g')
WHERE "code" ~ '[A-Za-z0-9_-]{24}' OR "description" ~ '[A-Za-z0-9_-]{24}'
   OR "contact" ~ '[A-Za-z0-9_-]{24}';
--> statement-breakpoint
UPDATE "alerts" SET
  "context" = CASE WHEN jsonb_typeof("context" -> 'code') = 'string'
    THEN jsonb_set("context", '{code}', to_jsonb(regexp_replace("context" ->> 'code',
      '(?<![A-Za-z0-9_-])(?![0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}(?![A-Za-z0-9_-]))([A-Za-z0-9_-]{8})[A-Za-z0-9_-]{16,}',
      '\1…', 'g')))
    ELSE "context" END,
  "last_context" = CASE WHEN jsonb_typeof("last_context" -> 'code') = 'string'
    THEN jsonb_set("last_context", '{code}', to_jsonb(regexp_replace("last_context" ->> 'code',
      '(?<![A-Za-z0-9_-])(?![0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}(?![A-Za-z0-9_-]))([A-Za-z0-9_-]{8})[A-Za-z0-9_-]{16,}',
      '\1…', 'g')))
    ELSE "last_context" END
WHERE "context" ->> 'code' ~ '[A-Za-z0-9_-]{24}' OR "last_context" ->> 'code' ~ '[A-Za-z0-9_-]{24}';
