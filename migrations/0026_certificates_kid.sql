-- A key's credentials in id order: a compromise signs them again a page at a time, each page one
-- range of this index (src/certificates/certificates.service.ts, resignCompromised), where each
-- page matched every remaining certificate of the issuer and sorted them.
CREATE INDEX "certificates_kid" ON "certificates" USING btree ("kid","id");
