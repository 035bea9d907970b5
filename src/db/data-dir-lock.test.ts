import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DATA_DIR_LOCK_FILE, DataDirInUseError, lockDataDir } from './data-dir-lock';

describe('lockDataDir', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certmark-lock-'));
    file = path.join(dir, DATA_DIR_LOCK_FILE);
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** The pid of a process that has ended. */
  const deadPid = () => spawnSync(process.execPath, ['-e', '0']).pid!;

  it('takes a free folder, and its release frees it', () => {
    const release = lockDataDir(dir);
    expect(fs.readFileSync(file, 'utf8')).toBe(`${process.pid}\n`);
    release();
    expect(fs.existsSync(file)).toBe(false);
    lockDataDir(dir)();
  });

  it('refuses a folder a live process holds, naming it, and leaves its file', () => {
    fs.writeFileSync(file, `${process.ppid}\n`);
    expect(() => lockDataDir(dir)).toThrow(DataDirInUseError);
    expect(() => lockDataDir(dir)).toThrow(`in use by another process (pid ${process.ppid})`);
    expect(fs.readFileSync(file, 'utf8')).toBe(`${process.ppid}\n`);
  });

  it('takes over the file of a process that is gone, or one that names none', () => {
    for (const stale of [`${deadPid()}\n`, 'garbage', '']) {
      fs.writeFileSync(file, stale);
      const release = lockDataDir(dir);
      expect(fs.readFileSync(file, 'utf8'), stale).toBe(`${process.pid}\n`);
      release();
    }
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('leaves a successor’s file alone on release', () => {
    const release = lockDataDir(dir);
    fs.writeFileSync(file, `${process.ppid}\n`);
    release();
    expect(fs.readFileSync(file, 'utf8')).toBe(`${process.ppid}\n`);
  });
});
