// A node:test reporter that writes only the failed tests: file, name and the error's first
// lines. The runner prints it after the TAP stream, so the end of a long CI log names what failed
// (CI keeps only the log's tail, and a `not ok` 20 minutes earlier is out of it).
// Plain JavaScript: node loads reporters before tsx's hooks are in place.
const maxErrorLines = 20;

/** @param {AsyncIterable<{ type: string, data: any }>} source */
export default async function* failures(source) {
  const failed = [];
  for await (const event of source) {
    if (event.type !== 'test:fail') continue;
    const { name, file, details } = event.data;
    // A suite fails because a test in it did; that test is listed itself.
    if (details.error?.failureType === 'subtestsFailed') continue;
    const where = file ? file.replace(`${process.cwd()}/`, '') : '(no file)';
    const error = details.error?.cause instanceof Error ? details.error.cause : details.error;
    const text = String(error?.stack ?? error ?? 'no error given').split('\n').filter((l) => !/\((node:|.*node_modules)/.test(l)).slice(0, maxErrorLines).map((l) => `    ${l}`).join('\n');
    failed.push(`✖ ${where} ${name}\n${text}`);
  }
  yield failed.length ? `\n# ${failed.length} failed:\n${failed.join('\n')}\n` : '\n# no test failed\n';
}
