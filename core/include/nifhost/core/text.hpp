#pragma once
// nifhost/core/text.hpp — Erlang term syntax: parse a term written as Erlang
// source text, and print a term exactly as OTP 25's io_lib:format("~100000p")
// does, so that test failures, the CLI and the BEAM oracle all speak one text.
//
//   tl::expected<Term, ParseError> t = parse_term("{ok, [1, 2.5, #{k => v}]}.", heap);
//   std::string s = print_term(*t);  // "{ok,[1,2.5,#{k => v}]}"
//
// Text is UTF-8 both ways. What print_term writes is the UTF-8 encoding of the
// characters ~p produces (unicode:characters_to_binary of its output).
//
// Identifiers. ~p writes pids, ports and references of the local node as
// <0.85.0>, #Port<0.5> and #Ref<0.3.2.1> (a reference's 32-bit words from the
// last to the first); the parser accepts these forms, which Erlang's own parser
// does not. For another node, ~p writes the index of that node in the running
// VM's distribution table, which names nothing outside it, so here those
// identifiers print in a form that names the node and its creation instead:
//   #Pid<a@host.3.85.0>     node, creation, number, serial
//   #Port<a@host.3.5>       node, creation, number
//   #Ref<a@host.3.1.2.3>    node, creation, words from the last to the first
// (the node is an atom, quoted when it needs to be: 'other@example.org').
// "Local" means node nonode@nohost with creation 0 (a non-distributed erl).
//
// Funs. An external fun prints as ~p does (`fun lists:map/2`, atoms quoted as
// the BEAM's own printer quotes them) and parses back, unless a name has
// characters beyond ASCII: the runtime writes those byte by byte, so neither
// erl's text nor this one reads back as the same fun. A local fun prints as
// `#Fun<Module.OldIndex.OldUniq>` taken from its ETF bytes, exactly as ~p; like
// Erlang, the parser rejects that form (the fun's code and environment are not
// in the text), so parse(print(t)) == t holds for every term except local funs.
//
// Resources and remote resource handles have no textual identity. A resource
// prints as the local reference the ETF codec encodes it as (so erl prints the
// encoded term the same way); a handle prints as #Handle<Domain.Generation.Id.
// TypeTag>. Neither parses back.
//
// Map order. ~p walks a map with maps:iterator/1: sorted keys up to 32 keys,
// and for larger maps (HAMTs) the reverse of their maps:to_list/1 order, which
// print_term follows from the map's stored order. OTP 25 hashes an atom, pid or
// port key by its raw word, and an atom's word is its index in that VM's atom
// table, so a map of more than 32 keys with such keys is ordered by the VM that
// made it; erl's text and this one then differ only in that order (=:=).
//
// print_term writes everything on one line. io_lib_pretty breaks lines once a
// term's text reaches 99,999 characters even at width 100000; print_term never
// does, so only for such huge terms does it differ from ~100000p.
#include <cstddef>
#include <string>
#include <string_view>

#include <tl/expected.hpp>

#include "nifhost/core/heap.hpp"
#include "nifhost/core/term.hpp"

namespace nifhost::core {

struct ParseError {
  std::size_t line;     // 1-based
  std::size_t column;   // 1-based, in characters (code points)
  std::string message;  // "line:column: what was expected, found what"
};

// Nesting deeper than this (lists, tuples and maps inside each other) is a
// parse error rather than a risk to the stack: the parser keeps its own stack.
inline constexpr std::size_t kMaxParseDepth = 10000;

// Parses one term in Erlang syntax, optionally followed by a `.`, with
// whitespace and % comments anywhere between tokens. Builds on `heap`.
// Accepts: integers of any size (1_000, 16#ff, $a, -5), floats (1.0, -2.5e-3),
// atoms ('quoted', with escapes), strings (adjacent strings join), binaries and
// bitstrings (<<1,2:3, "txt", "λ"/utf8, 1.5:32/float, 300:16/little>>),
// tuples, lists ([1,2|3]), maps (a repeated key keeps its last value), the
// identifier forms above, and external funs (fun m:f/1).
tl::expected<Term, ParseError> parse_term(std::string_view text, Heap& heap);

// The text of io_lib:format("~100000p", [t]) in OTP 25, as UTF-8.
std::string print_term(Term t);

}  // namespace nifhost::core
