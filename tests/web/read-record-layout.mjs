// What a structured-clone record layout could do for the budgets
// benchmark's cold read (bench.mjs (b)), against the module as it is, in
// the same pages (bench-page.mjs readRecordLayout has the details):
//
//   PREHEAT_WEB_PACKAGE=<build>/web node tests/web/read-record-layout.mjs [--pages N]
//
// Each page is a fresh browser and profile. Prints pooled medians (us) and
// the ratios that matter: module / rawBytes is (b) as bench.mjs measures
// it; fields / rawFields is what a read of a structured-clone record that
// skips the engine costs against a raw get of that record. Writes nothing,
// never fails on timings.
import { PACKAGE_DIR, median, pagesOption, runDriver, withBudgetsPage } from './bench-browser.mjs';

const args = process.argv.slice(2);
const PAGES = pagesOption(args, 3);

const RATIOS = [['module', 'rawBytes'], ['fields', 'rawFields'], ['fieldsHashed', 'rawFields'],
                ['rawFields', 'rawBytes']];

function ratios(medians) {
  return RATIOS.map(([a, b]) => `${a}/${b} ${(medians[a] / medians[b]).toFixed(3)}`).join('  ');
}

async function main() {
  const pooled = {};
  const problems = [];
  for (let page = 0; page < PAGES; page++) {
    const r = await withBudgetsPage(PACKAGE_DIR, (p) => p.evaluate(() => window.bench.readRecordLayout()));
    const m = {};
    for (const [kind, times] of Object.entries(r)) {
      m[kind] = median(times);
      (pooled[kind] ||= []).push(...times);
      if (!(m[kind] > 0)) problems.push(`page ${page} ${kind}`);
    }
    console.log(`page ${page}: ${ratios(m)}`);
  }
  const m = Object.fromEntries(Object.entries(pooled).map(([kind, times]) => [kind, median(times)]));
  console.log(`pooled over ${PAGES} page(s), medians in us: ` +
              Object.entries(m).map(([kind, v]) => `${kind} ${(v * 1000).toFixed(0)}`).join(', '));
  console.log(`pooled: ${ratios(m)}`);
  return problems;
}

runDriver(main);
