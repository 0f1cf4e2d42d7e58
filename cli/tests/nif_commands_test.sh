#!/bin/sh
# Checks `nifhost info`, `call` and `run`: output and exit statuses (0 ok,
# 1 exception, 2 usage, 3 load error). Expected results are what erl (OTP 25)
# answers for the same calls: nh_terms:add(40, 2) = 42, add(a, 2) raises
# badarg, jiffy:decode(<<"[1,2]">>) = [1,2], term_to_binary({ok,1}) =
# 8368026400026f6b6101.
# usage: nif_commands_test.sh PATH-TO-nifhost NIFS-DIR
set -u
NIFHOST=$1
NIFS=$2
JIFFY=/usr/lib/erlang/lib/jiffy-1.1.1/priv/jiffy.so
failures=0
out=$(mktemp) err=$(mktemp) script=$(mktemp)
trap 'rm -f "$out" "$err" "$script"' EXIT
unset NIFHOST_BACKEND

# expect STATUS STDOUT-or-'*' STDERR-substring-or-'' -- ARGS...
expect() {
  want_status=$1 want_out=$2 want_err=$3
  shift 4
  "$NIFHOST" "$@" >"$out" 2>"$err" </dev/null
  status=$?
  if [ "$status" -ne "$want_status" ]; then
    echo "FAIL: nifhost $*: exit $status, expected $want_status (stdout: $(cat "$out"); stderr: $(cat "$err"))"
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

# call: results, exceptions, formats.
expect 0 42 '' -- call "$NIFS/nh_terms.so" add 40 2
expect 0 42 '' -- call "$NIFS/nh_terms" add 40 2
expect 0 42 '' -- call --backend inproc "$NIFS/nh_terms.so" add 40 2
expect 0 42 '' -- call --backend=inproc "$NIFS/nh_terms.so" add 40 2
expect 1 '** exception error: badarg' '' -- call "$NIFS/nh_terms.so" add a 2
expect 1 '** exception error: undef' 'nosuch/1' -- call "$NIFS/nh_terms.so" nosuch 1
expect 0 8368026400026f6b6101 '' -- call --format etf "$NIFS/nh_terms.so" echo '{ok,1}'
expect 0 '[1,2]' '' -- call "$JIFFY" nif_decode_init '<<"[1,2]">>' '[]'
expect 0 '{hello,1}' '' -- call --load-info '{hello, 1}' "$NIFS/nh_upgrade.so" load_info

# Load errors: exit 3 with the BEAM's reason.
expect 3 '' 'load: Library load-call unsuccessful (42).' -- call "$NIFS/nh_load_fail.so" never
expect 3 '' 'load_failed' -- call "$NIFS/no_such_library.so" f
expect 3 '' 'bad_lib' -- call --module other "$NIFS/nh_terms.so" noop
expect 3 '' 'load: Library load-call unsuccessful (5).' -- call --load-info '{fail, 5}' "$NIFS/nh_upgrade.so" version
expect 3 '' 'bad_lib' -- info "$NIFS/nh_dup_funcs.so"

# Usage errors: exit 2.
expect 2 '' 'missing LIB' -- call
expect 2 '' 'missing FUNCTION' -- call "$NIFS/nh_terms.so"
expect 2 '' 'unknown backend' -- call --backend bogus "$NIFS/nh_terms.so" noop
expect 2 '' 'argument 1' -- call "$NIFS/nh_terms.so" add '{' 2
expect 2 '' '--format' -- call --format xml "$NIFS/nh_terms.so" noop
expect 2 '' 'unknown option' -- info --bogus "$NIFS/nh_terms.so"

# The environment sets the default backend; --backend overrides it.
NIFHOST_BACKEND=bogus "$NIFHOST" call "$NIFS/nh_terms.so" noop >"$out" 2>"$err"
if [ $? -ne 2 ] || ! grep -qF NIFHOST_BACKEND "$err"; then
  echo "FAIL: NIFHOST_BACKEND=bogus is not a usage error"; failures=$((failures + 1))
else echo "ok: NIFHOST_BACKEND=bogus"; fi
NIFHOST_BACKEND=inproc "$NIFHOST" call "$NIFS/nh_terms.so" add 1 2 >"$out" 2>"$err"
if [ $? -ne 0 ] || [ "$(cat "$out")" != 3 ]; then
  echo "FAIL: NIFHOST_BACKEND=inproc"; failures=$((failures + 1))
else echo "ok: NIFHOST_BACKEND=inproc"; fi

# info
expect 0 '*' '' -- info "$NIFS/nh_upgrade.so"
grep -qx 'module: nh_upgrade' "$out" && grep -qx '  priv_counts/0 normal' "$out" &&
  grep -qx 'nif_version: 2.16' "$out" ||
  { echo "FAIL: info output: $(cat "$out")"; failures=$((failures + 1)); }
expect 0 '*' '' -- info "$NIFS/nh_meta.so"
grep -qx '  dirty_sum/1 dirty_cpu' "$out" ||
  { echo "FAIL: info nh_meta: $(cat "$out")"; failures=$((failures + 1)); }

# run: variables carry results (a resource too), every statement runs, and the
# status is the worst one.
cat >"$script" <<'SCRIPT'
% a comment line
Sum = add(40, 2).
add(Sum, 1).
add(a, 1).
Sum = add(1, 1).
add(Unbound, 1).
echo({Sum, [Sum | tail], #{Sum => "x.y"}, $A, 16#10, 1.5E1}).
nh_terms:noop().
other:noop().
SCRIPT
expect 2 '42
43
** exception error: badarg
** exception error: {badmatch,2}
* 6: variable '"'"'Unbound'"'"' is unbound
{42,[42|tail],#{42 => "x.y"},65,16,15.0}
ok
** exception error: undef' '' -- run "$NIFS/nh_terms.so" "$script"

printf 'A = add(1, 2).\nadd(A, a).\n' >"$script"
expect 1 '3
** exception error: badarg' '' -- run "$NIFS/nh_terms.so" "$script"

printf 'R = new(7).\nget(R).\nset(R, 8).\nget(R).\n' >"$script"
expect 0 '*' '' -- run "$NIFS/nh_resources.so" "$script"
[ "$(sed -n 2p "$out")" = 7 ] && [ "$(sed -n 4p "$out")" = 8 ] ||
  { echo "FAIL: resource through a variable: $(cat "$out")"; failures=$((failures + 1)); }

printf 'send_self(hello).\nflush().\n' >"$script"
expect 0 'true
Shell got hello
ok' '' -- run "$NIFS/nh_messages.so" "$script"

expect 2 '' 'cannot read SCRIPT' -- run "$NIFS/nh_terms.so" /nonexistent/script
expect 3 '' 'load_failed' -- run "$NIFS/no_such_library.so" "$script"
expect 0 '*' '' -- run --help
expect 0 '*' '' -- call --help
expect 0 '*' '' -- info --help

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "all passed"
