// The enif map functions through the C ABI: building, reading and updating
// maps, and map iterators. Expected values come from the erl_nif documentation
// and erl_nif.c, or from the real BEAM (the oracle), never from nifhost itself.
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "enif_fixture.hpp"
#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/env.hpp"
#include "nifhost/core/heap.hpp"
#include "nifhost/core/terms.hpp"
#include "nifhost/testing/beam_oracle.hpp"
#include "nifhost/testing/term_gen.hpp"

namespace {

using namespace nifhost::core;
using nifhost::core::test::EnifFixture;
using nifhost::core::test::oracle;
using nifhost::core::test::TestEnv;
using nifhost::testing::Bytes;

class EnifMaps : public EnifFixture {
 protected:
  ERL_NIF_TERM i(long v) { return enif_make_long(env, v); }
};

TEST_F(EnifMaps, NewMapIsEmpty) {
  ERL_NIF_TERM m = enif_make_new_map(env);
  EXPECT_TRUE(enif_is_map(env, m));
  size_t size = 99;
  ASSERT_TRUE(enif_get_map_size(env, m, &size));
  EXPECT_EQ(size, 0u);
  EXPECT_EQ(etf_of(m), *oracle().encode_text("#{}"));
}

TEST_F(EnifMaps, GetMapSizeRefusesNonMaps) {
  size_t size = 99;
  EXPECT_FALSE(enif_get_map_size(env, beam_term("[{a, 1}]"), &size));
  EXPECT_FALSE(enif_is_map(env, beam_term("{}")));
  EXPECT_EQ(size, 99u);
}

TEST_F(EnifMaps, PutAddsOrReplaces) {
  ERL_NIF_TERM m = enif_make_new_map(env), out;
  ASSERT_TRUE(enif_make_map_put(env, m, atom("a"), i(1), &out));
  ASSERT_TRUE(enif_make_map_put(env, out, atom("b"), i(2), &out));
  ASSERT_TRUE(enif_make_map_put(env, out, atom("a"), i(3), &out));
  EXPECT_EQ(etf_of(out), *oracle().encode_text("#{a => 3, b => 2}"));
  size_t size;
  ASSERT_TRUE(enif_get_map_size(env, m, &size));
  EXPECT_EQ(size, 0u);  // the input map is unchanged
}

TEST_F(EnifMaps, PutRefusesNonMaps) {
  ERL_NIF_TERM out = atom("untouched");
  EXPECT_FALSE(enif_make_map_put(env, kNilTerm, atom("a"), i(1), &out));
  EXPECT_EQ(out, atom("untouched"));
}

TEST_F(EnifMaps, KeysMatchExactly) {
  // 1 and 1.0 are different keys (=:=), as in the BEAM.
  ERL_NIF_TERM m = beam_term("#{1 => int, 1.0 => float}"), v;
  ASSERT_TRUE(enif_get_map_value(env, m, i(1), &v));
  EXPECT_EQ(v, atom("int"));
  ASSERT_TRUE(enif_get_map_value(env, m, enif_make_double(env, 1.0), &v));
  EXPECT_EQ(v, atom("float"));
  ERL_NIF_TERM out;
  ASSERT_TRUE(enif_make_map_put(env, m, enif_make_double(env, 1.0), atom("new"), &out));
  EXPECT_EQ(etf_of(out), *oracle().encode_text("#{1 => int, 1.0 => new}"));
}

TEST_F(EnifMaps, GetMapValueFailsForMissingKeysAndNonMaps) {
  ERL_NIF_TERM v = atom("untouched");
  EXPECT_FALSE(enif_get_map_value(env, beam_term("#{1 => a}"), enif_make_double(env, 1.0), &v));
  EXPECT_FALSE(enif_get_map_value(env, beam_term("#{1 => a}"), i(2), &v));
  EXPECT_FALSE(enif_get_map_value(env, beam_term("[1]"), i(1), &v));
  EXPECT_EQ(v, atom("untouched"));
}

TEST_F(EnifMaps, UpdateNeedsAnExistingKey) {
  ERL_NIF_TERM m = beam_term("#{a => 1}"), out = atom("untouched");
  EXPECT_FALSE(enif_make_map_update(env, m, atom("b"), i(2), &out));
  EXPECT_FALSE(enif_make_map_update(env, atom("a"), atom("a"), i(2), &out));
  EXPECT_EQ(out, atom("untouched"));
  ASSERT_TRUE(enif_make_map_update(env, m, atom("a"), i(2), &out));
  EXPECT_EQ(etf_of(out), *oracle().encode_text("#{a => 2}"));
}

TEST_F(EnifMaps, RemoveOfAMissingKeyKeepsTheMap) {
  ERL_NIF_TERM m = beam_term("#{a => 1, b => 2}"), out;
  ASSERT_TRUE(enif_make_map_remove(env, m, atom("a"), &out));
  EXPECT_EQ(etf_of(out), *oracle().encode_text("#{b => 2}"));
  ASSERT_TRUE(enif_make_map_remove(env, m, atom("zzz"), &out));
  EXPECT_TRUE(enif_is_identical(out, m));
  out = atom("untouched");
  EXPECT_FALSE(enif_make_map_remove(env, beam_term("{a, 1}"), atom("a"), &out));
  EXPECT_EQ(out, atom("untouched"));
}

TEST_F(EnifMaps, FromArraysRefusesDuplicateKeys) {
  ERL_NIF_TERM keys[] = {atom("b"), atom("a"), i(1)};
  ERL_NIF_TERM values[] = {i(2), i(1), atom("one")};
  ERL_NIF_TERM m;
  ASSERT_TRUE(enif_make_map_from_arrays(env, keys, values, 3, &m));
  EXPECT_EQ(etf_of(m), *oracle().encode_text("#{a => 1, b => 2, 1 => one}"));
  ASSERT_TRUE(enif_make_map_from_arrays(env, keys, values, 0, &m));
  EXPECT_EQ(etf_of(m), *oracle().encode_text("#{}"));
  ERL_NIF_TERM dup_keys[] = {atom("a"), atom("b"), atom("a")};
  ERL_NIF_TERM out = atom("untouched");
  EXPECT_FALSE(enif_make_map_from_arrays(env, dup_keys, values, 3, &out));
  EXPECT_EQ(out, atom("untouched"));
  // 1 and 1.0 are different keys.
  ERL_NIF_TERM num_keys[] = {i(1), enif_make_double(env, 1.0)};
  EXPECT_TRUE(enif_make_map_from_arrays(env, num_keys, values, 2, &out));
}

// ---------------------------------------------------------------- iterators
TEST_F(EnifMaps, IteratorCreateRefusesNonMapsAndBadEntries) {
  ErlNifMapIterator iter;
  EXPECT_FALSE(enif_map_iterator_create(env, beam_term("[]"), &iter, ERL_NIF_MAP_ITERATOR_FIRST));
  EXPECT_FALSE(enif_map_iterator_create(env, beam_term("#{a => 1}"), &iter,
                                        static_cast<ErlNifMapIteratorEntry>(3)));
}

TEST_F(EnifMaps, IteratorOverAnEmptyMapIsBothHeadAndTail) {
  for (ErlNifMapIteratorEntry entry : {ERL_NIF_MAP_ITERATOR_FIRST, ERL_NIF_MAP_ITERATOR_LAST}) {
    ErlNifMapIterator iter;
    ASSERT_TRUE(enif_map_iterator_create(env, enif_make_new_map(env), &iter, entry));
    EXPECT_TRUE(enif_map_iterator_is_head(env, &iter));
    EXPECT_TRUE(enif_map_iterator_is_tail(env, &iter));
    ERL_NIF_TERM k, v;
    EXPECT_FALSE(enif_map_iterator_get_pair(env, &iter, &k, &v));
    EXPECT_FALSE(enif_map_iterator_next(env, &iter));
    EXPECT_FALSE(enif_map_iterator_prev(env, &iter));
    enif_map_iterator_destroy(env, &iter);
  }
}

TEST_F(EnifMaps, IteratorWalksBothWaysAndStopsAtTheEnds) {
  ERL_NIF_TERM m = beam_term("#{a => 1, b => 2}"), k, v;
  ErlNifMapIterator iter;
  ASSERT_TRUE(enif_map_iterator_create(env, m, &iter, ERL_NIF_MAP_ITERATOR_FIRST));
  EXPECT_FALSE(enif_map_iterator_is_head(env, &iter));
  ASSERT_TRUE(enif_map_iterator_get_pair(env, &iter, &k, &v));
  EXPECT_EQ(k, atom("a"));
  EXPECT_EQ(v, i(1));
  EXPECT_TRUE(enif_map_iterator_next(env, &iter));
  ASSERT_TRUE(enif_map_iterator_get_pair(env, &iter, &k, &v));
  EXPECT_EQ(k, atom("b"));
  EXPECT_FALSE(enif_map_iterator_next(env, &iter));  // now past the last pair
  EXPECT_TRUE(enif_map_iterator_is_tail(env, &iter));
  EXPECT_FALSE(enif_map_iterator_get_pair(env, &iter, &k, &v));
  EXPECT_FALSE(enif_map_iterator_next(env, &iter));  // stays at the tail
  EXPECT_TRUE(enif_map_iterator_prev(env, &iter));   // back on the last pair
  ASSERT_TRUE(enif_map_iterator_get_pair(env, &iter, &k, &v));
  EXPECT_EQ(k, atom("b"));
  EXPECT_TRUE(enif_map_iterator_prev(env, &iter));
  EXPECT_FALSE(enif_map_iterator_prev(env, &iter));  // before the first pair
  EXPECT_TRUE(enif_map_iterator_is_head(env, &iter));
  EXPECT_FALSE(enif_map_iterator_get_pair(env, &iter, &k, &v));
  EXPECT_TRUE(enif_map_iterator_next(env, &iter));
  ASSERT_TRUE(enif_map_iterator_get_pair(env, &iter, &k, &v));
  EXPECT_EQ(k, atom("a"));
  enif_map_iterator_destroy(env, &iter);

  ASSERT_TRUE(enif_map_iterator_create(env, m, &iter, ERL_NIF_MAP_ITERATOR_LAST));
  ASSERT_TRUE(enif_map_iterator_get_pair(env, &iter, &k, &v));
  EXPECT_EQ(k, atom("b"));
  enif_map_iterator_destroy(env, &iter);
}

// The iteration order is the BEAM's: maps:to_list/1's for a flatmap, and the
// reverse of it for a map past 32 keys (the BEAM's HAMT iterator walks the
// trie the other way; checked against the real BEAM by the nh_terms
// properties). (Large maps order keys by the BEAM's internal hash, which
// hashes atoms by their index in the VM's atom table; so the large map here
// has no atom keys, whose order would differ between two BEAM runs too.)
TEST_F(EnifMaps, IteratorFollowsTheBeamsOrder) {
  std::string text = "#{";
  for (int n = 0; n < 40; ++n) {
    if (n) text += ", ";
    text += std::to_string(n * 7919 % 1009) + " => " + std::to_string(n);
  }
  text +=
      ", <<\"bin\">> => b, 2.5 => float, \"s\" => str, {1, <<>>} => t, -99999999999999999999 => "
      "big}";
  for (const std::string& t : {text, std::string("#{b => 1, a => 2, 1 => 3, {x} => 4}")}) {
    ERL_NIF_TERM m = beam_term(t);
    auto beam_list_etf = oracle().maps_to_list(*oracle().encode_text(t));
    ASSERT_TRUE(beam_list_etf.has_value());
    ERL_NIF_TERM beam_list;
    ASSERT_TRUE(
        enif_binary_to_term(env, beam_list_etf->data(), beam_list_etf->size(), &beam_list, 0));
    size_t size = 0;
    ASSERT_TRUE(enif_get_map_size(env, m, &size));
    if (size > 32) {
      ASSERT_TRUE(enif_make_reverse_list(env, beam_list, &beam_list));
    }
    ErlNifMapIterator iter;
    ASSERT_TRUE(enif_map_iterator_create(env, m, &iter, ERL_NIF_MAP_ITERATOR_FIRST));
    ERL_NIF_TERM k, v, head;
    while (enif_map_iterator_get_pair(env, &iter, &k, &v)) {
      ASSERT_TRUE(enif_get_list_cell(env, beam_list, &head, &beam_list));
      ERL_NIF_TERM pair = enif_make_tuple2(env, k, v);
      char text[256];
      enif_snprintf(text, sizeof text, "beam %T, iterator %T", head, pair);
      EXPECT_TRUE(enif_is_identical(head, pair)) << text;
      enif_map_iterator_next(env, &iter);
    }
    EXPECT_TRUE(enif_is_empty_list(env, beam_list));
    enif_map_iterator_destroy(env, &iter);
  }
}

// ---------------------------------------------------------------- properties
// Keys from a small pool, so operations often hit existing keys; integers and
// floats of the same value are different keys.
ERL_NIF_TERM pool_key(ErlNifEnv* env, int id) {
  if (id < 10) return enif_make_int(env, id);
  if (id < 20) return enif_make_double(env, id - 10);
  return enif_make_atom(env, ("k" + std::to_string(id)).c_str());
}

RC_GTEST_PROP(EnifMapsProp, PutGetUpdateRemoveBehaveLikeAStdMap, ()) {
  TestEnv e;
  ErlNifEnv* env = e.get();
  std::map<int, long> model;
  ERL_NIF_TERM m = enif_make_new_map(env);
  auto ops = *rc::gen::container<std::vector<std::pair<int, int>>>(
      rc::gen::pair(rc::gen::inRange(0, 4), rc::gen::inRange(0, 30)));
  long next_value = 0;
  for (auto [op, id] : ops) {
    ERL_NIF_TERM key = pool_key(env, id), out = kNilTerm;
    long value = next_value++;
    switch (op) {
      case 0:
        RC_ASSERT(enif_make_map_put(env, m, key, enif_make_long(env, value), &out));
        model[id] = value;
        m = out;
        break;
      case 1: {
        bool present = model.count(id) > 0;
        RC_ASSERT(enif_make_map_update(env, m, key, enif_make_long(env, value), &out) == present);
        if (present) {
          model[id] = value;
          m = out;
        }
        break;
      }
      case 2:
        RC_ASSERT(enif_make_map_remove(env, m, key, &out));
        model.erase(id);
        m = out;
        break;
      default: {
        ERL_NIF_TERM v;
        bool found = enif_get_map_value(env, m, key, &v);
        RC_ASSERT(found == (model.count(id) > 0));
        if (found) {
          long got;
          RC_ASSERT(enif_get_long(env, v, &got));
          RC_ASSERT(got == model[id]);
        }
      }
    }
    size_t size;
    RC_ASSERT(enif_get_map_size(env, m, &size));
    RC_ASSERT(size == model.size());
  }
  for (auto [id, value] : model) {
    ERL_NIF_TERM v;
    long got;
    RC_ASSERT(enif_get_map_value(env, m, pool_key(env, id), &v));
    RC_ASSERT(enif_get_long(env, v, &got));
    RC_ASSERT(got == value);
  }
}

RC_GTEST_PROP(EnifMapsProp, IteratorVisitsEveryPairOnceBothWays, ()) {
  TestEnv e;
  ErlNifEnv* env = e.get();
  // Keys: arbitrary terms with duplicates (=:=) dropped, up to past the flatmap limit.
  std::size_t n = *rc::gen::inRange<std::size_t>(0, 70);
  nifhost::testing::TermGenOptions options{.max_depth = 2};
  std::vector<ERL_NIF_TERM> keys, values;
  for (std::size_t j = 0; j < n; ++j) {
    ERL_NIF_TERM k = nifhost::testing::detail::gen_any(e.heap, options, 1);
    bool dup = false;
    for (ERL_NIF_TERM seen : keys) dup = dup || enif_is_identical(seen, k);
    if (dup) continue;
    keys.push_back(k);
    values.push_back(enif_make_long(env, static_cast<long>(j)));
  }
  ERL_NIF_TERM m;
  RC_ASSERT(enif_make_map_from_arrays(env, keys.data(), values.data(), keys.size(), &m));

  auto walk = [&](ErlNifMapIteratorEntry entry, int (*step)(ErlNifEnv*, ErlNifMapIterator*)) {
    std::vector<std::pair<ERL_NIF_TERM, ERL_NIF_TERM>> seen;
    ErlNifMapIterator iter;
    RC_ASSERT(enif_map_iterator_create(env, m, &iter, entry));
    ERL_NIF_TERM k, v;
    while (enif_map_iterator_get_pair(env, &iter, &k, &v)) {
      seen.emplace_back(k, v);
      RC_ASSERT(seen.size() <= keys.size());
      step(env, &iter);
    }
    bool at_end = entry == ERL_NIF_MAP_ITERATOR_FIRST ? enif_map_iterator_is_tail(env, &iter)
                                                      : enif_map_iterator_is_head(env, &iter);
    RC_ASSERT(at_end);
    enif_map_iterator_destroy(env, &iter);
    return seen;
  };
  auto forward = walk(ERL_NIF_MAP_ITERATOR_FIRST, enif_map_iterator_next);
  auto backward = walk(ERL_NIF_MAP_ITERATOR_LAST, enif_map_iterator_prev);

  RC_ASSERT(forward.size() == keys.size());
  RC_ASSERT(backward.size() == keys.size());
  for (std::size_t j = 0; j < forward.size(); ++j) {
    RC_ASSERT(forward[j].first == backward[backward.size() - 1 - j].first);
    RC_ASSERT(forward[j].second == backward[backward.size() - 1 - j].second);
  }
  // Every input pair is visited exactly once.
  for (std::size_t j = 0; j < keys.size(); ++j) {
    int hits = 0;
    for (auto& [k, v] : forward) {
      if (enif_is_identical(k, keys[j])) {
        ++hits;
        RC_ASSERT(v == values[j]);
      }
    }
    RC_ASSERT(hits == 1);
  }
}

}  // namespace
