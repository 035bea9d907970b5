import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DATA_DIR_LOCK_FILE, DataDirInUseError, lockDataDir, ownerLine } from './data-dir-lock';

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

  it('takes a free folder, naming this process, and its release frees it', () => {
    const release = lockDataDir(dir);
    expect(fs.readFileSync(file, 'utf8')).toBe(ownerLine(process.pid));
    expect(fs.readFileSync(file, 'utf8')).toMatch(
      new RegExp(`^${process.pid} ${os.hostname()} \\d+\\n$`),
    );
    release();
    expect(fs.readdirSync(dir)).toEqual([]);
    lockDataDir(dir)();
  });

  it('refuses a folder a live process of this host holds, naming it, and leaves its file', () => {
    fs.writeFileSync(file, ownerLine(process.ppid));
    expect(() => lockDataDir(dir)).toThrow(DataDirInUseError);
    expect(() => lockDataDir(dir)).toThrow(`in use by another process (pid ${process.ppid})`);
    expect(fs.readFileSync(file, 'utf8')).toBe(ownerLine(process.ppid));
    expect(fs.readdirSync(dir)).toEqual([DATA_DIR_LOCK_FILE]);
  });

  it('refuses a folder held from another host (two containers on one volume), whatever its pid', () => {
    for (const pid of [1, process.pid, deadPid()]) {
      fs.writeFileSync(file, `${pid} elsewhere.example 12345\n`);
      expect(() => lockDataDir(dir)).toThrow(
        `in use by pid ${pid} on host elsewhere.example, which cannot be checked from here`,
      );
    }
  });

  it('takes over the file of a process gone, of a recycled pid, of its own pid before, or of none', () => {
    const host = os.hostname();
    for (const stale of [
      ownerLine(deadPid()),
      `${process.ppid} ${host} 1\n`, // alive, but started at another time: the pid was recycled
      `${process.pid} ${host} 1\n`, // this process's pid, from before a container restart
      'garbage',
      '',
    ]) {
      fs.writeFileSync(file, stale);
      const release = lockDataDir(dir);
      expect(fs.readFileSync(file, 'utf8'), stale).toBe(ownerLine(process.pid));
      release();
    }
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('leaves a successor’s file alone on release', () => {
    const release = lockDataDir(dir);
    fs.writeFileSync(file, ownerLine(process.ppid));
    release();
    expect(fs.readFileSync(file, 'utf8')).toBe(ownerLine(process.ppid));
  });
});
