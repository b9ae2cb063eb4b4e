// The end-to-end benchmark's API client, in a process of its own (like the SMTP sink), so
// that the sender's CPU counts the server's side of each request only. POSTs `count`
// single-recipient messages to POST /message over keep-alive HTTP connections, `inFlight`
// at a time, and reports when all were answered 202.

import http from 'node:http';
import { benchMime, SENDER_DOMAIN } from './mime.ts';

interface Job {
  url: string;
  authorization: string;
  count: number;
  domains: number;
  inFlight: number;
}

process.once('message', async (job: Job) => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: job.inFlight });
  const target = new URL('/message', job.url);
  const post = (body: string) =>
    new Promise<number>((resolve, reject) => {
      const request = http.request(
        target,
        {
          method: 'POST',
          agent,
          headers: {
            authorization: job.authorization,
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
          },
        },
        (response) => {
          response.resume();
          response.on('end', () => resolve(response.statusCode ?? 0));
        },
      );
      request.on('error', reject);
      request.end(body);
    });
  let next = 0;
  const failures: string[] = [];
  await Promise.all(
    Array.from({ length: job.inFlight }, async () => {
      for (let i = next++; i < job.count; i = next++) {
        const status = await post(
          JSON.stringify({
            sender: `news@${SENDER_DOMAIN}`,
            recipients: [`e2e${i}@d${i % job.domains}.test`],
            message: benchMime(i),
          }),
        );
        if (status !== 202 && failures.length < 5) failures.push(`message ${i}: HTTP ${status}`);
      }
    }),
  );
  agent.destroy();
  process.send?.({ done: true, failures });
});
