// Package e2e holds end-to-end tests that drive a real headless Chromium
// (Debian's chromium package) through grantd's hosted connect pages, against
// a full server on a real SQLite file. It has no non-test code.
//
// The tests skip when chromium is not installed, except in CI (CI=true),
// where they fail. Screenshots of every page go to the test's temporary
// directory, or to GRANTD_SCREENSHOT_DIR when it is set.
package e2e
