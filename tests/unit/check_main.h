// Shared main for the Check suites: each test file defines MakeSuite().
#pragma once
// Include this after every other header: Check defines a fail() macro.
#include <check.h>
#include <cstdlib>

Suite* MakeSuite();

int main() {
  SRunner* sr = srunner_create(MakeSuite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
