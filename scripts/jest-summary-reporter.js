// Prints one plain closing line, `N passed, N failed[, N skipped]`, after jest's own summary:
// the line CI reads.
'use strict';

class SummaryReporter {
  onRunComplete(_contexts, results) {
    // A suite that failed to run (syntax error, failed import) counts as a failure too.
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    const skipped = results.numPendingTests + results.numTodoTests;
    const tail = skipped > 0 ? `, ${skipped} skipped` : '';
    process.stdout.write(`\n${results.numPassedTests} passed, ${failed} failed${tail}\n`);
  }
}

module.exports = SummaryReporter;
