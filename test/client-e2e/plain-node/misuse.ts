// Must NOT type-check (plain-node.test.ts expects exactly this error): the published types are real, not `any`.
import { MmsClient } from 'mmsgate/client';

const client = new MmsClient({ endpoints: ['http://127.0.0.1:8080'], accountId: 'a', password: 'p' });
export const wrong = client.send({ source: '88600', destination: 15551230001, parts: [] });
