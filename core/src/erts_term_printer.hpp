#pragma once
// erts_term_printer.hpp — the %T conversion of enif_snprintf and friends: the
// BEAM's own term printer (erts_printf_term, erl_printf_term.c in OTP 25),
// byte for byte. Private to core.
//
//   std::string out;
//   append_erts_percent_t(out, term, /*width=*/-1, /*precision=*/-1, /*left_adjust=*/false);
//
// This is not ~p (print_term in text.hpp). The runtime's printer writes floats
// as C's %.6e (2.500000e+00), maps without spaces (#{k=>v}), a map of more
// than 32 keys as its internal HAMT nodes (#<bitmap>{<bitmap>{[K|V],..},..}),
// atoms quoted by its own rules, lists as strings only when every element is a
// printable latin-1 byte (written as raw bytes, only \n and " escaped), and
// binaries as strings only when every byte is printable ASCII.
//
// Precision is a budget, not a length: every term visited costs one unit, an
// atom costs its length in bytes more, and every character of a string and
// byte of a binary one more. When the budget runs out the printer stops where
// it is (brackets left open) and the text ends with "... ". Without a
// precision the budget is 100000. Width pads with blanks; right-aligned, the
// BEAM measures only the digits the term's numbers produced (a quirk of
// erts_printf_format measuring with a sink that counts nothing else).
#include <cstddef>
#include <string>

#include "nifhost/core/term.hpp"

namespace nifhost::core::enif {

// The budget %T has without a precision.
inline constexpr long kErtsDefaultBudget = 100000;

struct ErtsTermText {
  std::string text;               // what erts_printf_term writes, "... " included
  std::size_t numeric_bytes = 0;  // of those, the bytes its numeric conversions wrote
};

// erts_printf_term(t, budget). The word 0 (the BEAM's THE_NON_VALUE, what a
// NIF returns after raising) prints as the BEAM prints it, <TNV>.
ErtsTermText erts_term_text(Term t, long budget);

// One %T conversion as erts_printf_format performs it, appended to out:
// width < 1 pads nothing; precision < 0 means the default budget and INT_MAX
// an unlimited one.
void append_erts_percent_t(std::string& out, Term t, int width, int precision, bool left_adjust);

}  // namespace nifhost::core::enif
