#pragma once
// nifhost/core/hash.hpp — the BEAM's term hashes (enif_hash, erlang:phash2/1,
// and the hash that orders large maps).
//
//   std::uint32_t h = phash2(t);            // == erlang:phash2(T), portable
//   std::uint64_t i = internal_hash(t, 0);  // ERL_NIF_INTERNAL_HASH
//
// phash2 equals the BEAM's for every term nifhost represents. A resource
// hashes as the reference the ETF encoder sends in its place; a remote handle
// (which the BEAM never sees) by its identity; a fun's free variables that do
// not decode (never the case for a fun that came from ETF) by their bytes.
// Both hashes walk the term with their own stack: any depth, any length.
#include <cstdint>

#include "nifhost/core/term.hpp"

namespace nifhost::core {

// The BEAM's make_hash2: 32 bits. erlang:phash2/1 is its low 27 bits.
std::uint32_t phash2_full(Term t);
inline std::uint32_t phash2(Term t) { return phash2_full(t) & ((1u << 27) - 1); }

// The BEAM's make_internal_hash with a 32-bit salt (enif_hash with
// ERL_NIF_INTERNAL_HASH returns it zero-extended). Like the BEAM's, it hashes
// immediates by their word, so it equals the BEAM's for terms built from
// integers, floats, binaries, [] and tuples, lists and small maps of those,
// but atoms, pids and ports hash by this process's encoding of them.
std::uint64_t internal_hash(Term t, std::uint64_t salt);

// The hash value the BEAM's atom table keeps for an atom (hashpjw of its text);
// phash2 of an atom is this value.
std::uint32_t atom_text_hash(Term atom);

// The 32 hash bits a key uses at HAMT levels 8*depth .. 8*depth+7 (depth 0:
// the internal hash with salt 0; deeper ones mix the depth into the salt).
std::uint32_t map_key_hash(Term key, unsigned depth);

}  // namespace nifhost::core
