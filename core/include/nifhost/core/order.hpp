#pragma once
// nifhost/core/order.hpp — Erlang term order and equality, and the order the
// BEAM keeps and iterates map entries in, as OTP 25 does them.
//
// number < atom < reference < fun < port < pid < tuple < map < nil < list < bitstring
//
//   compare(make_small(1), one_point_zero) == 0    // 1 == 1.0
//   identical(make_small(1), one_point_zero)       // false: 1 =/= 1.0
//
// Numbers compare by exact value (a bignum against a float too); 0.0 and -0.0
// are == and, in OTP 25, =:=. Atoms compare by text. Pids by serial, number,
// then node; ports and references by node, then number(s). Maps by size, then
// their keys in map key order, then the values in that order. Funs (kept as
// ETF) by the fields the BEAM compares: local funs before external ones. A
// resource orders as the reference the ETF encoder sends in its place; remote
// handles come after this node's other references. Every function here walks
// terms with its own stack: any nesting depth, any list length.
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
//
// The HAMT order follows the BEAM's internal hash of the keys, which hashes
// atoms, pids and ports by their in-memory words: for keys holding those, the
// order is stable within a process but is not the one any particular BEAM
// instance would choose (two BEAMs that created atoms in different orders
// disagree too). For all other keys it is exactly the BEAM's.
bool order_map_entries(std::span<Term> keys, std::span<Term> values);
// Index of key (matched with =:=) in a map built by order_map_entries, if
// present: binary search in either order (by hash for HAMT-sized maps).
std::optional<std::size_t> map_find_index(Term map, Term key);

}  // namespace nifhost::core
