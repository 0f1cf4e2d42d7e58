#pragma once
// nifhost/core/hash.hpp — the BEAM's term hashes (enif_hash).
//
//   std::uint32_t h = phash2(t);            // == erlang:phash2(T), portable
//   std::uint64_t i = internal_hash(t, 0);  // ERL_NIF_INTERNAL_HASH
#include <cstdint>

#include "nifhost/core/term.hpp"

namespace nifhost::core {

// erlang:phash2/1 (27-bit result space is phash2(T) rem 2^27? no: full 32 bits here,
// erlang:phash2/1 is this value band (2^27 - 1)).
std::uint32_t phash2_full(Term t);
inline std::uint32_t phash2(Term t) { return phash2_full(t) & ((1u << 27) - 1); }
// The BEAM's internal hash (not stable across releases), with salt.
std::uint64_t internal_hash(Term t, std::uint64_t salt);

}  // namespace nifhost::core
