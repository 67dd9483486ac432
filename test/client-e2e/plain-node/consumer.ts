// Type-checked by plain-node.test.ts as a customer's TypeScript project would (moduleResolution NodeNext, the package's
// published types): the client's types resolve, and a misuse is a type error.
import { MmsApiError, MmsClient, type SendRequest } from 'mmsgate/client';

const client = new MmsClient({ endpoints: ['http://127.0.0.1:8080'], accountId: 'a', password: 'p' });
const req: SendRequest = { source: '88600', destination: '15551230001', parts: [{ text: 'hi' }] };
export async function run(): Promise<number> {
  try {
    return (await client.send(req)).mtId;
  } catch (e) {
    if (e instanceof MmsApiError) return -e.httpStatus;
    throw e;
  }
}
