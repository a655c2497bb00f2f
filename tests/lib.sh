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

# expect_ok NAME CMD...: the command must exit 0.
expect_ok() {
  local name=$1; shift
  if out=$("$@" 2>&1); then pass "$name"; else fail "$name" "exit $?: $out"; fi
}

# expect_fail NAME CODE PATTERN CMD...: the command must exit CODE with PATTERN in its output.
expect_fail() {
  local name=$1 code=$2 pattern=$3; shift 3
  local rc=0
  out=$("$@" 2>&1) || rc=$?
  if [ "$rc" -eq "$code" ] && grep -q -- "$pattern" <<<"$out"; then pass "$name"
  else fail "$name" "want exit $code and /$pattern/, got exit $rc: $out"; fi
}

# jget PATH: reads JSON on stdin and prints the value at a dotted path (strings raw, others JSON).
jget() {
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{let v=JSON.parse(s);
    for (const k of process.argv[1].split(".").filter(Boolean)) v=v==null?undefined:v[k];
    console.log(typeof v==="string"?v:JSON.stringify(v));});' "$1"
}
