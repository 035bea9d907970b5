import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { bindPort, type Refusal } from './listener';
import { exchange } from '../../test/raw-http';

function parse(answer: string) {
  const [head = '', body = ''] = answer.split('\r\n\r\n');
  const [statusLine = '', ...headers] = head.split('\r\n');
  return {
    status: Number(statusLine.split(' ')[1]),
    headers: Object.fromEntries(
      headers.map((h) => [h.slice(0, h.indexOf(':')).toLowerCase(), h.slice(h.indexOf(':') + 2)]),
    ),
    body: JSON.parse(body) as { code: string; status: number },
  };
}

describe('requests the HTTP parser refuses', () => {
  it('are answered with a problem, as every other refusal: 431 for a huge URL, 400 for garbage', async () => {
    const listener = await bindPort(0);
    listener.serve(() => new Response('ok'));
    try {
      const huge = parse(
        await exchange(
          listener.port,
          `GET /log/tile/${'x'.repeat(100_000)} HTTP/1.1\r\nhost: a\r\n\r\n`,
        ),
      );
      expect(huge.status).toBe(431);
      expect(huge.headers['content-type']).toBe('application/problem+json');
      expect(huge.body).toMatchObject({ status: 431, code: 'request_header_too_large' });

      const garbage = parse(await exchange(listener.port, 'NOT HTTP AT ALL\r\n\r\n'));
      expect(garbage.status).toBe(400);
      expect(garbage.headers['content-type']).toBe('application/problem+json');
      expect(garbage.body).toMatchObject({ status: 400, code: 'bad_request' });

      // The listener still serves.
      expect(
        await exchange(listener.port, 'GET / HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n'),
      ).toMatch(/^HTTP\/1\.1 200/);
    } finally {
      await listener.close(1_000);
    }
  });
});

describe('requests refused before routing', () => {
  it('answers CONNECT to a path with the methods its routes take there, or 404 where none', async () => {
    const listener = await bindPort(0);
    const routes: Record<string, string[]> = {
      '/v1/verify/mark': ['POST'],
      '/healthz': ['GET', 'HEAD'],
    };
    listener.serve(
      () => new Response('ok'),
      undefined,
      (path) => routes[path] ?? [],
    );
    try {
      const connectTo = async (target: string) =>
        parse(await exchange(listener.port, `CONNECT ${target} HTTP/1.1\r\nhost: a\r\n\r\n`));
      const mark = await connectTo('/v1/verify/mark?x=1');
      expect(mark.status).toBe(405);
      expect(mark.headers.allow).toBe('POST');
      expect(mark.body).toMatchObject({ status: 405, code: 'method_not_allowed' });
      expect((await connectTo('/healthz')).headers.allow).toBe('GET, HEAD');
      // The path the router would see: absolute form, percent-encoding and dot segments.
      for (const target of ['http://a/healthz', '/heal%74hz', '/x/../healthz']) {
        expect((await connectTo(target)).headers.allow, target).toBe('GET, HEAD');
      }
      expect((await connectTo('http://a/nothing-here')).status).toBe(404);
      const nowhere = await connectTo('/nothing-here');
      expect(nowhere.status).toBe(404);
      expect(nowhere.body).toMatchObject({ status: 404, code: 'not_found' });
      // A tunnel to an authority is no path: the methods the service takes anywhere.
      expect((await connectTo('example.com:443')).headers.allow).toBe('GET, HEAD, POST, DELETE');
    } finally {
      await listener.close(100);
    }
  });

  it('needs exactly one Host, answers OPTIONS * with the methods, and refuses an unknown Expect', async () => {
    const listener = await bindPort(0);
    const refusals: Refusal[] = [];
    listener.serve(
      () => new Response('ok'),
      (refusal) => refusals.push(refusal),
    );
    try {
      for (const raw of [
        'GET / HTTP/1.1\r\nhost: a\r\nhost: b\r\n\r\n',
        'GET / HTTP/1.1\r\n\r\n',
        'GET * HTTP/1.1\r\nhost: a\r\n\r\n',
        // What the router cannot make a URL of: a malformed Host, a backslash, another scheme.
        'GET / HTTP/1.1\r\nhost: user@host\r\n\r\n',
        'GET / HTTP/1.1\r\nhost: a b\r\n\r\n',
        'GET /v1\\x HTTP/1.1\r\nhost: a\r\n\r\n',
        'GET ftp://x/healthz HTTP/1.1\r\nhost: a\r\n\r\n',
      ]) {
        const answer = parse(await exchange(listener.port, raw));
        expect(answer.status, raw).toBe(400);
        expect(answer.headers['content-type']).toBe('application/problem+json');
        expect(answer.body).toMatchObject({ status: 400, code: 'bad_request' });
      }

      // HTTP/1.0 may leave Host out (RFC 9112 §3.2 asks it of HTTP/1.1 only).
      expect(await exchange(listener.port, 'GET / HTTP/1.0\r\n\r\n')).toMatch(/^HTTP\/1\.1 200/);
      expect(await exchange(listener.port, 'OPTIONS * HTTP/1.0\r\n\r\n')).toMatch(
        /^HTTP\/1\.1 204/,
      );

      const options = await exchange(
        listener.port,
        'OPTIONS * HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n',
      );
      expect(options).toMatch(/^HTTP\/1\.1 204/);
      expect(options.toLowerCase()).toContain('allow: get, head, post, delete');

      const connect = parse(
        await exchange(
          listener.port,
          'CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\n\r\n',
        ),
      );
      expect(connect.status).toBe(405);
      expect(connect.headers.allow).toBe('GET, HEAD, POST, DELETE');
      expect(connect.body).toMatchObject({ status: 405, code: 'method_not_allowed' });

      const expectation = parse(
        await exchange(listener.port, 'POST / HTTP/1.1\r\nhost: a\r\nexpect: bogus\r\n\r\n'),
      );
      expect(expectation.status).toBe(417);
      expect(expectation.headers['content-type']).toBe('application/problem+json');
      expect(expectation.body).toMatchObject({ status: 417, code: 'expectation_failed' });

      // Each is logged once (the app's request log never sees them), its path redacted.
      const code = 'A'.repeat(120);
      await exchange(listener.port, `GET /m/${code} HTTP/1.1\r\nhost: a\r\nhost: b\r\n\r\n`);
      expect(refusals).toHaveLength(12);
      expect(refusals.at(-1)).toEqual({
        status: 400,
        code: 'bad_request',
        method: 'GET',
        path: '/m/AAAAAAAA…',
      });
      expect(refusals.map((r) => r.status)).toEqual([
        400, 400, 400, 400, 400, 400, 400, 204, 204, 405, 417, 400,
      ]);
    } finally {
      await listener.close(1_000);
    }
  });

  it('answers 408 with a problem when a body stalls, without waiting minutes', async () => {
    const listener = await bindPort(0, { headersMs: 300, requestMs: 400, checkEveryMs: 100 });
    listener.serve(async (request) => new Response(await request.text()));
    try {
      const started = performance.now();
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = net.connect(listener.port, '127.0.0.1', () =>
          socket.write('POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 100\r\n\r\nshort'),
        );
        let text = '';
        socket.setEncoding('utf8');
        socket.on('data', (chunk: string) => (text += chunk));
        socket.on('close', () => resolve(text));
        socket.on('error', reject);
      });
      expect(performance.now() - started).toBeLessThan(5_000);
      const timedOut = parse(answer);
      expect(timedOut.status).toBe(408);
      expect(timedOut.headers['content-type']).toBe('application/problem+json');
      expect(timedOut.body).toMatchObject({ status: 408, code: 'request_timeout' });
    } finally {
      await listener.close(1_000);
    }
  });
});

describe('closing', () => {
  it('answers a request sent on an idle keep-alive connection as the listener closes, then closes it', async () => {
    const listener = await bindPort(0);
    listener.serve(() => new Response('ok'));
    const socket = net.connect(listener.port, '127.0.0.1');
    socket.setEncoding('utf8');
    let received = '';
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.on('data', (chunk: string) => (received += chunk));
    socket.on('error', () => {});
    const answers = () => received.split('HTTP/1.1 ').length - 1;
    const until = async (test: () => boolean) => {
      for (const deadline = Date.now() + 5_000; !test() && Date.now() < deadline;)
        await new Promise((resolve) => setTimeout(resolve, 5));
    };
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write('GET /one HTTP/1.1\r\nhost: a\r\n\r\n');
    await until(() => answers() === 1);
    // The connection is idle, kept alive; the listener starts closing, and the client, not knowing
    // yet, sends its next request on it.
    const closing = listener.close(2_000);
    socket.write('GET /two HTTP/1.1\r\nhost: a\r\n\r\n');
    await until(() => answers() === 2);
    await closed;
    expect(answers()).toBe(2);
    const second = received.slice(received.lastIndexOf('HTTP/1.1 '));
    expect(second).toMatch(/^HTTP\/1\.1 200/);
    expect(second.toLowerCase()).toContain('connection: close');
    // Nothing was cut: the connection ended after its answer.
    expect(await closing).toBe(0);
  });

  it('tells an answer under way to close its connection, and runs nothing pipelined behind it', async () => {
    const listener = await bindPort(0);
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const ran: string[] = [];
    listener.serve(async (request) => {
      const path = new URL(request.url).pathname;
      ran.push(path);
      if (path === '/slow') await released;
      return new Response('ok');
    });
    const socket = net.connect(listener.port, '127.0.0.1');
    socket.setEncoding('utf8');
    let received = '';
    socket.on('data', (chunk: string) => (received += chunk));
    socket.on('error', () => {});
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write('GET /slow HTTP/1.1\r\nhost: a\r\n\r\n');
    for (const deadline = Date.now() + 5_000; ran.length === 0 && Date.now() < deadline;)
      await new Promise((resolve) => setTimeout(resolve, 5));
    // The listener closes while /slow is being answered; its client, not knowing, sends the next
    // request on the same connection before the answer comes.
    const closing = listener.close(2_000);
    socket.write('GET /next HTTP/1.1\r\nhost: a\r\n\r\n');
    await new Promise((resolve) => setTimeout(resolve, 50));
    release();
    await closed;
    expect(received).toMatch(/^HTTP\/1\.1 200/);
    expect(received.toLowerCase()).toContain('connection: close');
    // /next never ran: its client, seeing no answer to it, may send it again.
    expect(ran).toEqual(['/slow']);
    expect(await closing).toBe(0);
  });

  it('closes an idle keep-alive connection after the drain, without waiting for the grace', async () => {
    const listener = await bindPort(0);
    listener.serve(() => new Response('ok'));
    const socket = net.connect(listener.port, '127.0.0.1');
    socket.on('error', () => {});
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write('GET / HTTP/1.1\r\nhost: a\r\n\r\n');
    await new Promise((resolve) => socket.once('data', resolve));
    const started = performance.now();
    expect(await listener.close(60_000)).toBe(0);
    await closed;
    expect(performance.now() - started).toBeLessThan(10_000);
  });
});
