#!/bin/sh
# Checks the nifhost tool's exit statuses and output. Expected ETF bytes were
# produced by erl (OTP 25): binary:encode_hex(term_to_binary(T)).
# usage: cli_test.sh PATH-TO-nifhost
set -u
NIFHOST=$1
failures=0
out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT

# expect STATUS STDOUT-or-'*' STDERR-substring-or-'' -- ARGS...
expect() {
  want_status=$1 want_out=$2 want_err=$3
  shift 4
  "$NIFHOST" "$@" >"$out" 2>"$err" </dev/null
  status=$?
  if [ "$status" -ne "$want_status" ]; then
    echo "FAIL: nifhost $*: exit $status, expected $want_status (stderr: $(cat "$err"))"
    failures=$((failures + 1))
    return
  fi
  if [ "$want_out" != "*" ] && [ "$(cat "$out")" != "$want_out" ]; then
    echo "FAIL: nifhost $*: stdout '$(cat "$out")', expected '$want_out'"
    failures=$((failures + 1))
    return
  fi
  if [ -n "$want_err" ] && ! grep -qF -- "$want_err" "$err"; then
    echo "FAIL: nifhost $*: stderr '$(cat "$err")' lacks '$want_err'"
    failures=$((failures + 1))
    return
  fi
  echo "ok: nifhost $*"
}

# Encoding: term text to term_to_binary/1 bytes.
expect 0 8368026400026f6b6101 '' -- etf encode '{ok,1}'
expect 0 836b0003010203 '' -- etf encode '[1, 2, 3]'
expect 0 837400000001640001616d0000000178 '' -- etf encode '#{a => <<"x">>}'
expect 0 8362fffffffb '' -- etf encode -5
expect 0 836e0900000000000000000040 '' -- etf encode 1180591620717411303424
expect 0 83464004000000000000 '' -- etf encode '2.5'
expect 0 836c000000016802640001786a640008696d70726f706572 '' -- etf encode '[{x,[]}|improper].'
expect 0 834d000000010410 '' -- etf encode '<<1:4>>'
expect 0 83716400056c697374736400036d61706102 '' -- etf encode 'fun lists:map/2'
expect 0 836d00000002c3a9 '' -- etf encode '<<"é"/utf8>>'
expect 0 8364000b68656c6c6f20776f726c64 '' -- etf encode -- "'hello world'"

# Decoding: bytes to ~p text.
expect 0 '{ok,1}' '' -- etf decode 8368026400026f6b6101
expect 0 '"abc"' '' -- etf decode 836B0003616263
expect 0 '#{a => <<"x">>}' '' -- etf decode 837400000001640001616d0000000178
expect 0 '<<1:4>>' '' -- etf decode 834d000000010410
expect 0 "'hello world'" '' -- etf decode 8364000b68656c6c6f20776f726c64
expect 0 '2.5' '' -- etf decode 83464004000000000000

# Standard input.
printf '{ok,1}' | "$NIFHOST" etf encode - >"$out" 2>"$err"
if [ $? -ne 0 ] || [ "$(cat "$out")" != 8368026400026f6b6101 ]; then
  echo "FAIL: etf encode - (stdin)"; failures=$((failures + 1)); else echo "ok: etf encode -"; fi

# Bad input: exit 1 with the reason on stderr.
expect 1 '' '1:4: expected' -- etf encode '{1,]'
expect 1 '' '2:1: expected' -- etf encode '[1
}'
expect 1 '' 'variable' -- etf encode 'X'
expect 1 '' 'hex' -- etf decode 8zz
expect 1 '' 'odd' -- etf decode 836
expect 1 '' '' -- etf decode 83
expect 1 '' '' -- etf decode 8301
expect 1 '' '' -- etf decode 836101ff

# Usage errors: exit 2 with usage on stderr.
expect 2 '' 'missing command' --
expect 2 '' 'unknown command' -- bogus
expect 2 '' 'unknown option' -- --bogus
expect 2 '' 'usage: nifhost etf' -- etf
expect 2 '' 'unknown subcommand' -- etf frobnicate
expect 2 '' 'missing TERM' -- etf encode
expect 2 '' 'missing HEX' -- etf decode
expect 2 '' 'expected one TERM' -- etf encode 1 2
expect 2 '' 'unknown option' -- etf encode --bogus 1

# Help and version.
expect 0 '*' '' -- --help
grep -q 'usage: nifhost' "$out" || { echo "FAIL: --help lacks usage"; failures=$((failures + 1)); }
expect 0 '*' '' -- etf --help
expect 0 '*' '' -- --version
grep -Eq '^nifhost [0-9]+\.[0-9]+\.[0-9]+$' "$out" || { echo "FAIL: --version: $(cat "$out")"; failures=$((failures + 1)); }

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "all passed"
