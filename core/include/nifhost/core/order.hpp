#pragma once
// nifhost/core/order.hpp — Erlang term order and equality, exactly as the BEAM.
//
// number < atom < reference < fun < port < pid < tuple < map < nil < list < bitstring
//
//   compare(make_small(1), one_point_zero) == 0    // 1 == 1.0
//   identical(make_small(1), one_point_zero)       // false: 1 =/= 1.0
#include <cstddef>
#include <optional>
#include <span>

#include "nifhost/core/term.hpp"

namespace nifhost::core {

// Erlang's term order with == semantics (enif_compare): <0, 0 or >0.
int compare(Term a, Term b);
inline bool equal(Term a, Term b) { return compare(a, b) == 0; }
// =:= (enif_is_identical).
bool identical(Term a, Term b);
// The total order the BEAM keeps map keys in ("map key order"): as compare(),
// but an integer is less than any float and 1 and 1.0 are different keys.
int compare_map_keys(Term a, Term b);

// Maps of up to this many keys are flatmaps (kept in map key order); larger
// ones are HAMTs (MAP_SMALL_MAP_LIMIT in the BEAM).
inline constexpr std::size_t kFlatmapLimit = 32;

// Arranges entries in the BEAM's map iteration order (the order of
// maps:to_list/1 and term_to_binary/1): map key order up to 32 keys, the
// HAMT's hash order beyond. Returns false if two keys are identical.
bool order_map_entries(std::span<Term> keys, std::span<Term> values);
// Index of key in a map built by order_map_entries, if present.
std::optional<std::size_t> map_find_index(Term map, Term key);

}  // namespace nifhost::core
