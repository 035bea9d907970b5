import type { Role } from '../db/schema/api-keys';

/** Who is calling: the API key's id and role, and for issuer keys, the issuer it is bound to. */
export interface Principal {
  readonly keyId: string;
  readonly role: Role;
  readonly issuerId: string | null;
}

/** Audit actor for a change made by this principal (or by the system itself). */
export interface Actor {
  readonly keyId: string | null;
  readonly role: string;
}

export const systemActor: Actor = Object.freeze({ keyId: null, role: 'system' });

export function actorOf(principal: Principal): Actor {
  return { keyId: principal.keyId, role: principal.role };
}
