import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { logDestination } from './log-destination';

/** A named pipe (64 KiB on Linux) with a read end nobody reads until the test does. */
function stalledPipe() {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'certmark-log-'));
  const file = path.join(folder, 'log');
  execFileSync('mkfifo', [file]);
  const reader = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  const writer = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
  /** Everything waiting in the pipe. */
  const read = () => {
    const chunks: Buffer[] = [];
    for (;;) {
      const chunk = Buffer.alloc(65_536);
      try {
        const n = fs.readSync(reader, chunk);
        if (n === 0) break;
        chunks.push(chunk.subarray(0, n));
      } catch {
        break; // EAGAIN: nothing more waiting
      }
    }
    return Buffer.concat(chunks);
  };
  const readAll = () => read().length;
  const close = () => {
    for (const fd of [reader, writer]) fs.closeSync(fd);
    fs.rmSync(folder, { recursive: true, force: true });
  };
  return { writer, read, readAll, close };
}

const line = `${JSON.stringify({ level: 30, msg: 'x'.repeat(200) })}\n`;
const until = async (done: () => boolean) => {
  for (let i = 0; i < 200 && !done(); i++) await new Promise((r) => setTimeout(r, 10));
};

describe('the log destination', () => {
  let pipe: ReturnType<typeof stalledPipe> | undefined;
  afterEach(() => {
    pipe?.close();
    pipe = undefined;
  });

  it('keeps at most its bound for a stalled reader, then says how many lines it dropped', async () => {
    pipe = stalledPipe();
    const dropped: number[] = [];
    const destination = logDestination((lines) => dropped.push(lines), {
      fd: pipe.writer,
      maxWaitingBytes: 100_000,
    });
    // 1,000 lines, ~213 KB: the pipe takes 64 KiB, 100 KB wait, the rest is dropped.
    for (let i = 0; i < 1_000; i++) destination.stream.write(line);
    let read = 0;
    await until(() => {
      read += pipe!.readAll();
      return dropped.length > 0;
    });
    expect(dropped).toHaveLength(1);
    expect(dropped[0]).toBeGreaterThan(0);
    // Every line is either read or counted as dropped.
    expect(read + pipe.readAll()).toBe((1_000 - dropped[0]!) * line.length);
  });

  it('gives up writing at exit after its time when the reader does not read', async () => {
    pipe = stalledPipe();
    const destination = logDestination(() => {}, { fd: pipe.writer, exitFlushMs: 300 });
    for (let i = 0; i < 1_000; i++) destination.stream.write(line);
    const gaveUp = new Promise((resolve) => destination.stream.once('error', resolve));
    const began = performance.now();
    destination.flushAtExit();
    const took = performance.now() - began;
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(2_000);
    // Its background write gives up too (EAGAIN past the time) before the pipe's descriptor is
    // closed, and so cannot write into the next test's pipe, which may get the same number.
    expect(await gaveUp).toMatchObject({ code: 'EAGAIN' });
  });

  it('gives up at once at exit when the reader has gone, with lines still waiting', async () => {
    // In a child whose stdout pipe is closed before it writes: sonic-boom 4 retried a write that
    // failed with EPIPE forever in flushSync, and the process never exited (`… | head`).
    const script = `
      import { logDestination } from './src/shared/log-destination.ts';
      const destination = logDestination(() => {});
      for (let i = 0; i < 1000; i++) destination.stream.write(${JSON.stringify(line)});
      const began = performance.now();
      destination.flushAtExit();
      process.stderr.write('flushed in ' + Math.round(performance.now() - began) + ' ms');
    `;
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout.destroy(); // the reader is gone before the child writes
    let stderr = '';
    child.stderr.on('data', (data) => (stderr += String(data)));
    const exit = await new Promise<number | null>((resolve) => {
      const overdue = setTimeout(() => {
        child.kill('SIGKILL');
        resolve(null);
      }, 20_000);
      child.once('exit', (code) => {
        clearTimeout(overdue);
        resolve(code);
      });
    });
    expect(exit).toBe(0); // not killed as overdue
    expect(Number(/flushed in (\d+) ms/.exec(stderr)?.[1])).toBeLessThan(1_500);
  }, 30_000);

  it('finishes every line for a reader that catches up before an orderly exit', async () => {
    pipe = stalledPipe();
    const destination = logDestination(
      (lines) => destination.stream.write(`${JSON.stringify({ level: 40, dropped: lines })}\n`),
      { fd: pipe.writer, maxWaitingBytes: 100_000 },
    );
    for (let i = 0; i < 1_000; i++) destination.stream.write(line);
    // The reader comes back while the service stops: it waits for the lines, then exits.
    const chunks: Buffer[] = [];
    const reading = setInterval(() => chunks.push(pipe!.read()), 2);
    const began = performance.now();
    await destination.settle(5_000);
    const took = performance.now() - began;
    clearInterval(reading);
    destination.flushAtExit();
    chunks.push(pipe.read());
    const lines = Buffer.concat(chunks).toString('utf8').split('\n');
    expect(lines.pop()).toBe('');
    // Every line whole: none cut, none run into the next.
    const parsed = lines.map((text) => JSON.parse(text) as { msg?: string; dropped?: number });
    const count = parsed.at(-1)!.dropped!;
    expect(count).toBeGreaterThan(0);
    expect(parsed.filter((entry) => entry.msg !== undefined)).toHaveLength(1_000 - count);
    expect(took).toBeLessThan(1_000);
  });
});
