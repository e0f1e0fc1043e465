// Installs the test-only npm dependencies (package.json next to this file)
// unless they already resolve. Idempotent; used as a CTest fixture.
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(dir, 'package.json'));
const pkg = require('./package.json');
const missing = Object.keys(pkg.devDependencies).filter((name) => {
  try {
    require.resolve(`${name}/package.json`);
    return false;
  } catch (_) {
    return true;
  }
});
if (missing.length === 0) {
  console.log('test dependencies present:', Object.keys(pkg.devDependencies).join(', '));
} else {
  console.log('installing', missing.join(', '));
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const args = ['install', '--no-audit', '--no-fund', '--loglevel=error'];
  execFileSync(npm, args, { cwd: dir, stdio: 'inherit' });
}
