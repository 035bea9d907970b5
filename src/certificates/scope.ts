import type { ScopeItemJson } from '../db/schema/certificates';

/**
 * Whether a product model is covered by a certificate's scope. Patterns match case-insensitively;
 * a pattern ending in `*` matches every model that starts with what precedes it (SPEC).
 */
export function modelMatches(pattern: string, model: string): boolean {
  const p = pattern.trim().toUpperCase();
  const m = model.trim().toUpperCase();
  return p.endsWith('*') ? m.startsWith(p.slice(0, -1)) : m === p;
}

/** Whether `model` is covered: an item that names no models covers every model of its product. */
export function modelInScope(scope: readonly ScopeItemJson[], model: string): boolean {
  return scope.some(
    (item) => !item.models || item.models.some((pattern) => modelMatches(pattern, model)),
  );
}
