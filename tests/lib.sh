# Shared by the shell test scripts (source it): argument checks and the PASS/FAIL tally.

# require_executables FILE...: a missing binary is a failure, never a skip.
require_executables() {
  local tool
  for tool in "$@"; do
    [ -x "$tool" ] || { echo "FAIL: $tool is not an executable file" >&2; exit 1; }
  done
}

passed=0
failed=0
pass() { echo "PASS: $1"; passed=$((passed + 1)); }
# fail NAME [DETAIL...]: records a failure and prints each detail line indented.
fail() {
  echo "FAIL: $1"
  shift
  local line
  for line in "$@"; do echo "      $line"; done
  failed=$((failed + 1))
}

# finish NAME: prints the tally and exits non-zero when any case failed.
finish() {
  echo "$1: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
