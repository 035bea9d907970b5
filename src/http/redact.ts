/** Mark codes in a path (`/m/<code>`) are shortened: a full code would let a reader print copies. */
export function redactPath(path: string): string {
  return path.replace(/\/(m|M)\/([A-Za-z2-7]{8})[A-Za-z2-7]+/, '/$1/$2…');
}
