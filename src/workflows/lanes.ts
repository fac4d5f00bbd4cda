// Independent steps run a few at a time. Workflow-safe: plain promises, so the order the steps are
// scheduled in is the same on every replay.

/**
 * Runs `jobs` with at most `lanes` running at once, each lane taking the next job as it frees up,
 * and returns their results in the jobs' order. Every job started is waited for before the first
 * failure is thrown: a run never reports failed while one of its steps still writes.
 */
export async function inLanes<T>(jobs: Array<() => Promise<T>>, lanes: number): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  const failures: unknown[] = [];
  let next = 0;
  const lane = async () => {
    while (next < jobs.length && !failures.length) {
      const i = next++;
      try {
        results[i] = await jobs[i]!();
      } catch (err) {
        failures.push(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(lanes, jobs.length)) }, lane));
  if (failures.length) throw failures[0];
  return results;
}
