import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { KeyMaterialError, loadKeyMaterial } from './key-material';

const EXAMPLE = new URL('../../keys.example/', import.meta.url);
const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'certmark-keys-'));

describe('loadKeyMaterial', () => {
  it('generates missing keys outside production, 0600, and reads the same ones again', () => {
    const dir = path.join(tempDir(), 'keys');
    const generated: string[] = [];
    const first = loadKeyMaterial({
      keysDir: dir,
      production: false,
      onGenerated: (f) => generated.push(f),
    });
    expect(generated.map((f) => path.basename(f)).sort()).toEqual(['kek', 'platform-signing-seed']);
    expect(fs.statSync(path.join(dir, 'kek')).mode & 0o777).toBe(0o600);
    const second = loadKeyMaterial({ keysDir: dir, production: false });
    expect(second.kek).toEqual(first.kek);
    expect(second.platformSeed).toEqual(first.platformSeed);
    expect(first.kek).not.toEqual(first.platformSeed);
  });

  it('refuses to generate keys silently in production', () => {
    expect(() =>
      loadKeyMaterial({ keysDir: path.join(tempDir(), 'none'), production: true }),
    ).toThrow(KeyMaterialError);
  });

  it('refuses the demo keys of keys.example in production, accepts them elsewhere', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certmark-demo-'));
    for (const f of ['kek', 'platform-signing-seed'])
      fs.copyFileSync(new URL(f, EXAMPLE), path.join(dir, f));
    expect(() => loadKeyMaterial({ keysDir: dir, production: true })).toThrow(/demo value/);
    expect(loadKeyMaterial({ keysDir: dir, production: false }).kek).toHaveLength(32);
  });

  it('accepts fresh keys in production and refuses malformed ones', () => {
    const dir = tempDir();
    loadKeyMaterial({ keysDir: dir, production: false });
    expect(loadKeyMaterial({ keysDir: dir, production: true }).kek).toHaveLength(32);
    fs.writeFileSync(path.join(dir, 'kek'), 'c2hvcnQ\n');
    expect(() => loadKeyMaterial({ keysDir: dir, production: true })).toThrow(/32 bytes/);
  });
});
