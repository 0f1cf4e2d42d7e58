#pragma once
// proptests/support/gen.hpp — argument generators for the cross-backend properties.
//
// Built on testing/term_gen.hpp; every term is made on a heap the caller
// owns (the property keeps it alive for the calls) and is one the real BEAM
// accepts, so the same arguments can be sent to the oracle. Call them inside
// a RapidCheck property: they draw with `*gen`.
//
//   core::Heap& heap = ...;
//   Term t = any_term(heap);                 // any term, BEAM-safe
//   Term b = any_binary(heap, 300);          // a binary (sometimes a sub-binary)
#include <cstddef>
#include <cstdint>
#include <rapidcheck.h>
#include <string>
#include <vector>

#include "nifhost/core/heap.hpp"
#include "nifhost/core/term.hpp"
#include "nifhost/testing/term_gen.hpp"

namespace nifhost::proptests {

using core::Term;

// Uniform draws. RapidCheck scales gen::inRange and arbitrary integers by the
// size of the test case, which grows from 0 over a property's runs: with few
// runs, scaled choices would mostly take the first option. Choices and
// parameters here are drawn at full size; terms keep term_gen's growth.
template <class T>
T pick(T lo, T hi) {  // [lo, hi)
  return *rc::gen::resize(100, rc::gen::inRange<T>(lo, hi));
}
inline bool coin() { return pick(0, 2) == 1; }
inline bool one_in(int n) { return pick(0, n) == 0; }
inline std::uint64_t any_u64() {
  return *rc::gen::resize(100, rc::gen::arbitrary<std::uint64_t>());
}

// A copy of t on `heap` that binary_to_term in the BEAM accepts: local pids
// keep their number in 15 bits and serial in 13, local ports in 28 bits,
// local references in the BEAM's three words. Map keys that become identical
// keep their first value.
Term beam_safe(core::Heap& heap, Term t);

// Any term (term_gen's generator), BEAM-safe, on heap.
Term any_term(core::Heap& heap, const testing::TermGenOptions& options = {});
// Terms made only of integers, floats, binaries, [] and tuples, lists and
// maps of at most 32 keys of those: the internal hash of these is the BEAM's.
Term any_atomless_term(core::Heap& heap, int depth = 0);

// Something large: a binary of up to 100 KiB, a list of up to 2000
// elements, a bignum of up to 40 digits, a map of up to 500 integer keys.
// Filled from one drawn seed (RapidCheck draws each byte slowly).
Term any_large_term(core::Heap& heap);

Term any_integer(core::Heap& heap);
Term any_float(core::Heap& heap);
Term any_atom(core::Heap& heap);
// A binary of up to max_size bytes: heap or refc, sometimes a sub-binary of
// a larger one (so the bytes do not start at the object's start).
Term any_binary(core::Heap& heap, std::size_t max_size);
std::vector<std::uint8_t> any_bytes(std::size_t max_size);
// A bitstring that is not a binary (1..7 trailing bits).
Term any_odd_bitstring(core::Heap& heap);
// A list of small integers in [lo, hi).
Term any_char_list(core::Heap& heap, int lo, int hi, std::size_t max_length);
// A proper list of any terms, up to max_length.
Term any_list(core::Heap& heap, std::size_t max_length);
// A map of up to max_size entries (keys: small integers, atoms or any term).
Term any_map(core::Heap& heap, std::size_t max_size);

}  // namespace nifhost::proptests
