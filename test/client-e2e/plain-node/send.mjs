// Run by plain-node.test.ts with plain `node` (no TypeScript loader), as a customer's JavaScript would run:
// imports the package's built client by its public name, sends one MMS, reads its status, prints both as JSON.
import { MmsClient } from 'mmsgate/client';

const client = new MmsClient({
  endpoints: [process.env.GATEWAY_URL],
  accountId: process.env.GATEWAY_ACCOUNT,
  password: process.env.GATEWAY_PASSWORD,
});
try {
  const sent = await client.send({ source: '88600', destination: '15551250001', subject: 'from plain node', parts: [{ text: 'hello' }] });
  const status = await client.status(sent.mtId);
  process.stdout.write(JSON.stringify({ mtId: sent.mtId, state: status.state }));
} finally {
  await client.close();
}
