/**
 * node.id goes into leases, event rows, log lines, the `node` metrics label and the claim query's JSON list of nodes
 * that passed a job on: refused at start unless it is letters, digits and `. _ : -`, and the default made from the
 * host name always fits.
 */
import { describe, expect, it } from 'vitest';
import { defaultNodeId, loadConfig } from '../../src/config/load.ts';
import { NODE_ID } from '../../src/config/queue-and-nodes.ts';
import { configIssues } from './config-issues.ts';

const issues = configIssues;

describe('node.id', () => {
  it.each(['mmsc-01', 'dc1.node_2', 'a', 'host:8080', 'N'.repeat(64)])('%s is accepted as given', (id) => {
    expect(loadConfig({ raw: { node: { id } } as never }).nodeId).toBe(id);
  });

  it.each(['mmsc"01', 'back\\slash', 'two words', '-leading', 'émile', '', 'N'.repeat(65)])('%j is refused, naming the key', (id) => {
    const lines = issues({ node: { id } });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^ {2}node\.id: /);
  });

  it('the default is <hostname>-<port>, cleaned up to fit what node.id may hold', () => {
    expect(defaultNodeId('gw-1.example.net', 8080)).toBe('gw-1.example.net-8080');
    expect(defaultNodeId('my "box"', 8080)).toBe('my--box--8080');
    expect(defaultNodeId('', 9)).toBe('node-9');
    expect(defaultNodeId('__x', 9)).toBe('x-9');
    const long = defaultNodeId('h'.repeat(200), 65535);
    expect(long).toHaveLength(64);
    expect(long.endsWith('-65535')).toBe(true);
    for (const id of [long, defaultNodeId('my "box"', 1), defaultNodeId('', 1)]) expect(id).toMatch(NODE_ID);
    const c = loadConfig({ raw: { listen: { port: 8123 } } as never });
    expect(c.nodeId).toMatch(NODE_ID);
    expect(c.nodeId.endsWith('-8123')).toBe(true);
  });
});
