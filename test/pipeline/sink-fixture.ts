/**
 * A PipelineInboundSink over a real store, committing through a group committer as the gateway does, for tests of
 * operator traffic (reports, MO resends) on every backend.
 */
import { IdAllocator } from '../../src/core/ids.ts';
import { PipelineInboundSink, type InboundSinkDeps } from '../../src/pipeline/inbound-sink.ts';
import { GroupCommitter } from '../../src/store/group-commit.ts';
import type { Store } from '../../src/store/store.ts';

export function inboundSinkOver(store: Store, overrides: Partial<InboundSinkDeps> = {}): PipelineInboundSink {
  const committer = new GroupCommitter(store);
  return new PipelineInboundSink({
    store,
    commit: (u) => committer.submit(u),
    moIds: new IdAllocator((n) => store.reserveIds('mo', n)),
    nodeId: 'n1',
    ownerOf: () => undefined,
    reportUrlFor: () => 'http://127.0.0.1:9/reports',
    ...overrides,
  });
}
