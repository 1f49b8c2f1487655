import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AppError } from '../../src/errors/catalogue.ts';
import { type BatchOutcome, GroupCommitter } from '../../src/eventstore/groupCommit.ts';

describe('GroupCommitter', () => {
  it('writes a lone item at once, then gathers what arrives meanwhile into the next batch', async () => {
    const batches: number[][] = [];
    const committer = new GroupCommitter<number, number>(
      async (items) => {
        batches.push(items);
        await new Promise((resolve) => setTimeout(resolve, 10));
        return items.map((item): BatchOutcome<number> => ({ ok: true, value: item * 2 }));
      },
      100,
      1,
    );
    const results = await Promise.all([1, 2, 3, 4].map((item) => committer.submit(item)));
    assert.deepEqual(results, [2, 4, 6, 8]);
    assert.deepEqual(batches, [[1], [2, 3, 4]]);
  });

  it('answers each item of a batch on its own, and retries a failed batch item by item', async () => {
    const committer = new GroupCommitter<number, number>(
      async (items) => {
        if (items.length > 1) throw new Error('the whole batch failed');
        const [item = 0] = items;
        return [item < 0 ? { ok: false, error: new Error(`bad ${item}`) } : { ok: true, value: item }];
      },
      10,
      1,
    );
    const results = await Promise.allSettled([5, -1, 7].map((item) => committer.submit(item)));
    assert.deepEqual(
      results.map((result) =>
        result.status === 'fulfilled' ? result.value : (result.reason as Error).message,
      ),
      [5, 'bad -1', 7],
    );
  });

  it('refuses with a retryable error once its queue is full, instead of growing without bound', async () => {
    let release: () => void = () => undefined;
    const blocked = new Promise<void>((resolve) => {
      release = resolve;
    });
    const committer = new GroupCommitter<number, number>(
      async (items) => {
        await blocked;
        return items.map((item) => ({ ok: true, value: item }));
      },
      1,
      1,
      2,
    );
    const accepted = [committer.submit(1), committer.submit(2), committer.submit(3)]; // 1 in flight, 2 queued
    await assert.rejects(committer.submit(4), (error: unknown) => {
      assert.ok(error instanceof AppError);
      assert.equal(error.code, 'eventstore.unavailable');
      assert.equal(error.headers['retry-after'], '1');
      return true;
    });
    release();
    assert.deepEqual(await Promise.all(accepted), [1, 2, 3]);
  });
});
