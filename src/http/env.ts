import type { Context } from 'hono';
import type { Logger } from 'pino';
import type { Principal } from '../auth/principal';
import type { ReadConsistency } from '../db/read-replica';

/** Hono context variables set by the service's middleware. */
export interface AppEnv {
  Variables: {
    requestId: string;
    principal: Principal | null;
    /**
     * Why the request's `Authorization` was not taken (malformed, or a key unknown or revoked):
     * it is then anonymous, and an operation that needs a key answers 401 with this.
     */
    refusedKey?: string;
    /** The service's logger (requestFrame), for what is logged after the answer has begun. */
    logger: Logger;
  };
}

/**
 * How fresh a public read must be for this caller. Anonymous readers (the public, verifiers,
 * crawlers) may be answered from a replica within its staleness bound; a caller with an API key
 * may have just written what it reads (an issuer changing a status and reading the certificate
 * back), so it reads the primary.
 */
export function readConsistencyOf(c: Context<AppEnv>): ReadConsistency {
  return c.get('principal') ? 'fresh' : 'bounded';
}
