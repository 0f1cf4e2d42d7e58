#!/usr/bin/env bash
# Sets up, builds (Release) and runs nifhost's main job.
# Today's main job demonstrates the term core against the real BEAM: each term
# is encoded by nifhost and by erl (term_to_binary/1), and decoded back.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "${NIFHOST_JOBS:-$(nproc)}" --target nifhost
NIFHOST=build/release/bin/nifhost

terms=(
  'ok'
  '{ok, 42, <<"abc">>}'
  '[1, 2, 3 | tail]'
  '#{name => <<"jiffy">>, version => {1,1,1}, 1 => 1.0}'
  '123456789012345678901234567890'
  '-2.5e-3'
  '"a string"'
  "'quoted atom'"
  '<<1,2,3:4>>'
)
agree=0
for t in "${terms[@]}"; do
  ours=$($NIFHOST etf encode "$t")
  beam=$(erl -noshell -eval "{ok,Ts,_}=erl_scan:string(\"$(printf '%s' "$t" | sed 's/\\/\\\\/g; s/"/\\"/g')\" ++ \".\"), {ok,T}=erl_parse:parse_term(Ts), io:format(\"~s\", [binary:encode_hex(term_to_binary(T))]), halt().")
  beam=$(printf '%s' "$beam" | tr 'A-F' 'a-f')
  back=$($NIFHOST etf decode "$ours")
  if [ "$ours" = "$beam" ]; then verdict="same bytes as erl"; agree=$((agree + 1)); else verdict="DIFFERS from erl ($beam)"; fi
  printf '%-55s -> %s\n%-55s    %s; decodes to %s\n' "$t" "$ours" "" "$verdict" "$back"
done
echo "nifhost and erl agree on ${agree} of ${#terms[@]} terms"
[ "$agree" -eq "${#terms[@]}" ]
