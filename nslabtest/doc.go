// Package nslabtest builds labs for Go tests: Start gives a test a lab of
// its own, under a unique name, removed when the test ends and checked
// for leftovers; it skips the test, saying why, when it cannot run as
// root. Subnets hands out host-side subnets that no parallel test or
// other test process uses, and the helpers below (Name, CheckLeaks, IP,
// Netns...) are those nslab's own tests use.
package nslabtest
