import net from 'node:net';

/**
 * Sends `raw` (a whole request, as bytes on the wire) on a new connection to 127.0.0.1:`port` and
 * reads everything until the server closes it: for what a fetch client cannot send (CONNECT, a
 * request without Host, a malformed request line).
 */
export function exchange(port: number, raw: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.end(raw));
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
  });
}
