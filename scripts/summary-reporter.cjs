// Prints one plain closing line, "tests: N passed, N failed, N skipped", after jest's own summary, so
// that tools which read a run's last line (CI among them) see the counts without parsing jest's table.
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    process.stdout.write(`tests: ${results.numPassedTests} passed, ${results.numFailedTests} failed, ${skipped} skipped\n`);
  }
}
module.exports = SummaryReporter;
