// Mocha's spec reporter, plus one plain closing line ("N passed, N failed, N skipped")
// that CI systems read without knowing mocha, and the slowest spec files with their
// wall time (hooks included), to show where the suite's time goes.
// MOCHA_FILE_TIMES=path also writes every file's time, and every spec's, as JSON.
const { writeFileSync } = require('node:fs');
const { relative } = require('node:path');
const Mocha = require('mocha');

const SLOWEST = 10;

class SpecWithSummary extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    const { EVENT_RUN_END, EVENT_SUITE_BEGIN, EVENT_SUITE_END, EVENT_TEST_PASS, EVENT_TEST_FAIL } = Mocha.Runner.constants;
    const started = Date.now();
    /** Wall time per spec file: its top-level suites, from their first hook to their last. */
    const files = new Map();
    const specs = [];
    const fileOf = (suite) => (suite.file ? relative(process.cwd(), suite.file) : undefined);
    const topLevel = (suite) => suite.parent && suite.parent.root;
    runner.on(EVENT_SUITE_BEGIN, (suite) => {
      const file = fileOf(suite);
      if (!file || !topLevel(suite)) return;
      const entry = files.get(file) ?? { ms: 0, specs: 0 };
      entry.since = Date.now();
      files.set(file, entry);
    });
    runner.on(EVENT_SUITE_END, (suite) => {
      const entry = files.get(fileOf(suite));
      if (!entry || !topLevel(suite) || entry.since === undefined) return;
      entry.ms += Date.now() - entry.since;
      entry.since = undefined;
    });
    const onTest = (state) => (test) => {
      const file = test.file ? relative(process.cwd(), test.file) : undefined;
      const entry = files.get(file);
      if (entry) entry.specs++;
      specs.push({ file, title: test.fullTitle(), state, ms: test.duration ?? 0 });
    };
    runner.on(EVENT_TEST_PASS, onTest('passed'));
    runner.on(EVENT_TEST_FAIL, onTest('failed'));
    runner.once(EVENT_RUN_END, () => {
      const { passes, failures, pending } = this.stats;
      const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;
      const ranked = [...files].map(([file, { ms, specs: count }]) => ({ file, ms, specs: count })).sort((a, b) => b.ms - a.ms);
      if (ranked.length > 1) {
        process.stdout.write(`\nthe ${Math.min(SLOWEST, ranked.length)} slowest spec files (of ${ranked.length}):\n`);
        for (const { file, ms, specs: count } of ranked.slice(0, SLOWEST)) process.stdout.write(`${seconds(ms).padStart(8)}  ${file} (${count} specs)\n`);
      }
      if (process.env.MOCHA_FILE_TIMES) {
        writeFileSync(process.env.MOCHA_FILE_TIMES, `${JSON.stringify({ wallMs: Date.now() - started, passes, failures, pending, files: ranked, specs }, null, 1)}\n`);
      }
      process.stdout.write(`\nmocha: ${passes} passed, ${failures} failed, ${pending} skipped in ${seconds(Date.now() - started)}\n`);
    });
  }
}

module.exports = SpecWithSummary;
