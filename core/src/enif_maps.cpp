// The enif ABI's map functions: building and reading maps, and map iterators.
//
// Keys match with =:= (1 and 1.0 are different keys), as erts_maps_get does.
// Every nifhost map keeps its keys and values in two arrays in the order of
// maps:to_list/1 (see order.hpp), so one iterator scheme serves maps of any
// size: the BEAM's flatmap iterator, reading a HAMT-sized map's arrays from
// the end (the BEAM's HAMT iterator visits pairs in the reverse of to_list).
// ErlNifMapIterator is used as the BEAM uses it for a flatmap: idx is
// 1-based, 0 is before the first pair ("head") and size + 1 is past the last
// ("tail"); u.flat.ks/vs hold the key and value arrays. Destroying an
// iterator frees nothing.
#include <algorithm>
#include <numeric>
#include <span>
#include <vector>

#include "enif_common.hpp"
#include "nifhost/core/order.hpp"
#include "nifhost/core/terms.hpp"

using nifhost::core::Term;
namespace core = nifhost::core;
namespace enif = nifhost::core::enif;

static_assert(sizeof(ErlNifMapIterator) == 7 * sizeof(void*),
              "ErlNifMapIterator must keep erl_nif.h's layout");

namespace {

bool iterator_on_pair(const ErlNifMapIterator* iter) {
  return iter->idx > 0 && iter->idx <= iter->size;
}

}  // namespace

extern "C" {

int enif_get_map_size(ErlNifEnv*, ERL_NIF_TERM term, size_t* size) {
  if (!core::is_map(term)) return 0;
  *size = core::map_size(term);
  return 1;
}

ERL_NIF_TERM enif_make_new_map(ErlNifEnv* env) {
  return enif::guard_term(env, [&] { return core::make_empty_map(enif::heap_of(env)); });
}

int enif_make_map_from_arrays(ErlNifEnv* env, ERL_NIF_TERM keys[], ERL_NIF_TERM values[],
                              size_t cnt, ERL_NIF_TERM* map_out) {
  return enif::guard(0, [&] {
    auto m = core::make_map(enif::heap_of(env), std::span<const Term>(keys, cnt),
                            std::span<const Term>(values, cnt));
    if (!m) {
      // A duplicate key. The BEAM refuses it only when the arrays would make
      // a flatmap (up to 32 keys); beyond, it builds the map as maps:from_list
      // does: the last value given for a key wins.
      if (cnt <= core::kFlatmapLimit) return 0;
      std::vector<std::size_t> order(cnt);
      std::iota(order.begin(), order.end(), std::size_t{0});
      std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        return core::compare_map_keys(keys[a], keys[b]) < 0;
      });
      std::vector<Term> unique_keys, unique_values;
      for (std::size_t i = 0; i < cnt; ++i) {
        const bool last_of_key =
            i + 1 == cnt || core::compare_map_keys(keys[order[i]], keys[order[i + 1]]) != 0;
        if (!last_of_key) continue;
        unique_keys.push_back(keys[order[i]]);
        unique_values.push_back(values[order[i]]);
      }
      m = core::make_map(enif::heap_of(env), unique_keys, unique_values);
      if (!m) return 0;
    }
    *map_out = *m;
    return 1;
  });
}

int enif_make_map_put(ErlNifEnv* env, ERL_NIF_TERM map_in, ERL_NIF_TERM key, ERL_NIF_TERM value,
                      ERL_NIF_TERM* map_out) {
  if (!core::is_map(map_in)) return 0;
  return enif::guard(0, [&] {
    *map_out = core::map_put(enif::heap_of(env), map_in, key, value);
    return 1;
  });
}

int enif_get_map_value(ErlNifEnv*, ERL_NIF_TERM map, ERL_NIF_TERM key, ERL_NIF_TERM* value) {
  if (!core::is_map(map)) return 0;
  auto v = core::map_get(map, key);
  if (!v) return 0;
  *value = *v;
  return 1;
}

// Like maps:update/3: the key must already be there.
int enif_make_map_update(ErlNifEnv* env, ERL_NIF_TERM map_in, ERL_NIF_TERM key, ERL_NIF_TERM value,
                         ERL_NIF_TERM* map_out) {
  if (!core::is_map(map_in) || !core::map_find_index(map_in, key)) return 0;
  return enif::guard(0, [&] {
    *map_out = core::map_put(enif::heap_of(env), map_in, key, value);
    return 1;
  });
}

// Like maps:remove/2: a missing key leaves the map as it is (and succeeds).
int enif_make_map_remove(ErlNifEnv* env, ERL_NIF_TERM map_in, ERL_NIF_TERM key,
                         ERL_NIF_TERM* map_out) {
  if (!core::is_map(map_in)) return 0;
  return enif::guard(0, [&] {
    *map_out = core::map_remove(enif::heap_of(env), map_in, key);
    return 1;
  });
}

// ---------------------------------------------------------------- iterators
int enif_map_iterator_create(ErlNifEnv*, ERL_NIF_TERM map, ErlNifMapIterator* iter,
                             ErlNifMapIteratorEntry entry) {
  if (!core::is_map(map)) return 0;
  std::size_t size = core::map_size(map);
  switch (entry) {
    case ERL_NIF_MAP_ITERATOR_FIRST:
      iter->idx = 1;
      break;
    case ERL_NIF_MAP_ITERATOR_LAST:
      iter->idx = size;
      break;
    default:
      return 0;
  }
  iter->map = map;
  iter->size = size;
  // The arrays are read, never written, through these.
  iter->u.flat.ks = const_cast<Term*>(core::map_keys(map));
  iter->u.flat.vs = const_cast<Term*>(core::map_values(map));
  iter->__spare__[0] = nullptr;
  iter->__spare__[1] = nullptr;
  return 1;
}

void enif_map_iterator_destroy(ErlNifEnv*, ErlNifMapIterator* iter) {
  iter->u.flat.ks = nullptr;
  iter->u.flat.vs = nullptr;
}

int enif_map_iterator_is_head(ErlNifEnv*, ErlNifMapIterator* iter) {
  return iter->size == 0 || iter->idx == 0;
}

int enif_map_iterator_is_tail(ErlNifEnv*, ErlNifMapIterator* iter) {
  return iter->size == 0 || iter->idx > iter->size;
}

int enif_map_iterator_next(ErlNifEnv*, ErlNifMapIterator* iter) {
  if (iter->idx <= iter->size) ++iter->idx;
  return iter->idx <= iter->size;
}

int enif_map_iterator_prev(ErlNifEnv*, ErlNifMapIterator* iter) {
  if (iter->idx > 0) --iter->idx;
  return iter->idx > 0;
}

int enif_map_iterator_get_pair(ErlNifEnv*, ErlNifMapIterator* iter, ERL_NIF_TERM* key,
                               ERL_NIF_TERM* value) {
  if (!iterator_on_pair(iter)) return 0;
  // A HAMT's iterator walks its pairs in the reverse of maps:to_list/1 (the
  // order kept here), as the BEAM's does; a flatmap's walks them in key order.
  const std::size_t at = iter->size > core::kFlatmapLimit ? iter->size - iter->idx : iter->idx - 1;
  *key = iter->u.flat.ks[at];
  *value = iter->u.flat.vs[at];
  return 1;
}

}  // extern "C"
