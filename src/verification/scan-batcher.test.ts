import { describe, expect, it } from 'vitest';
import { ScanBatcher } from './scan-batcher';
import type { RegisteredScan, ScanToRegister } from './scan-registration.queries';

const scan = (serial: string): ScanToRegister => ({
  serial,
  kid: 'k',
  at: new Date(0),
  region: null,
  province: null,
  lat: null,
  lon: null,
});

const counted = (serial: string): RegisteredScan => ({
  serial,
  status: 'active',
  scanCount: 1,
  firstScanAt: null,
  firstScanRegion: null,
  cloneFlaggedAt: null,
  batchId: 'b',
  certificateVersion: '1',
  issuerVersion: '1',
});

/** A database whose statements finish when the test says so. */
function fakeDatabase() {
  const statements: { serials: string[]; finish: () => void }[] = [];
  const execute = (scans: ScanToRegister[]) =>
    new Promise<RegisteredScan[]>((resolve) => {
      const serials = scans.map((s) => s.serial);
      statements.push({ serials, finish: () => resolve(serials.map(counted)) });
    });
  return { statements, execute };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('ScanBatcher', () => {
  it('sends the scans of one turn together, and a lone scan at the end of its turn', async () => {
    const db = fakeDatabase();
    const batcher = new ScanBatcher(db.execute);
    const first = ['1', '2', '3', '4', '5'].map((s) => batcher.register(scan(s)));
    await turn();
    expect(db.statements.map((s) => s.serials)).toEqual([['1', '2', '3', '4', '5']]);
    const lone = batcher.register(scan('6'));
    await turn();
    expect(db.statements.map((s) => s.serials)).toEqual([['1', '2', '3', '4', '5'], ['6']]);
    for (const s of db.statements) s.finish();
    expect((await Promise.all(first)).map((r) => r?.serial)).toEqual(['1', '2', '3', '4', '5']);
    expect((await lone)?.serial).toBe('6');
  });

  it('keeps two statements in flight; what arrives meanwhile goes together in the next', async () => {
    const db = fakeDatabase();
    const batcher = new ScanBatcher(db.execute);
    const all = [batcher.register(scan('1'))];
    await turn();
    all.push(batcher.register(scan('2')));
    await turn();
    for (const s of ['3', '4', '5']) {
      all.push(batcher.register(scan(s)));
      await turn(); // each in its own turn: they wait for a statement to finish
    }
    expect(db.statements.map((s) => s.serials)).toEqual([['1'], ['2']]);
    db.statements[0]!.finish();
    await turn();
    expect(db.statements.map((s) => s.serials)).toEqual([['1'], ['2'], ['3', '4', '5']]);
    for (const s of db.statements.slice(1)) s.finish();
    expect((await Promise.all(all)).map((r) => r?.serial)).toEqual(['1', '2', '3', '4', '5']);
    await batcher.drained();
  });

  it('never puts one mark in two statements at once: a repeat waits for the first', async () => {
    const db = fakeDatabase();
    const batcher = new ScanBatcher(db.execute);
    const all = [batcher.register(scan('7')), batcher.register(scan('7'))];
    await turn();
    expect(db.statements.map((s) => s.serials)).toEqual([['7']]);
    db.statements[0]!.finish();
    await turn();
    expect(db.statements.map((s) => s.serials)).toEqual([['7'], ['7']]);
    db.statements[1]!.finish();
    expect(await Promise.all(all)).toHaveLength(2);
  });

  it('fails only the scan whose data failed its statement; a lost database fails the whole group', async () => {
    const attempts: string[][] = [];
    const failing = (code: string) => (scans: ScanToRegister[]) => {
      const serials = scans.map((s) => s.serial);
      attempts.push(serials);
      if (serials.includes('bad')) return Promise.reject(Object.assign(new Error(code), { code }));
      return Promise.resolve(serials.map(counted));
    };
    const batcher = new ScanBatcher(failing('22003'));
    const [a, bad, c] = ['a', 'bad', 'c'].map((s) => batcher.register(scan(s)));
    await expect(bad).rejects.toMatchObject({ code: '22003' });
    expect((await a)?.serial).toBe('a');
    expect((await c)?.serial).toBe('c');
    expect(attempts).toEqual([['a', 'bad', 'c'], ['a'], ['bad'], ['c']]);

    attempts.length = 0;
    const lost = new ScanBatcher(failing('08006'));
    const group = ['a', 'bad'].map((s) => lost.register(scan(s)));
    for (const scanned of group) await expect(scanned).rejects.toMatchObject({ code: '08006' });
    expect(attempts).toEqual([['a', 'bad']]);
  });
});
