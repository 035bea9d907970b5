import type { Principal } from '../auth/principal';

/** Hono context variables set by the service's middleware. */
export interface AppEnv {
  Variables: {
    requestId: string;
    principal: Principal | null;
  };
}
