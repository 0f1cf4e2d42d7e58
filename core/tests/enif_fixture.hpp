#pragma once
// What the enif ABI tests share: a process-bound env on its own heap, as a NIF
// call gets, and the real BEAM to say what a term should be.
//
//   class EnifMaps : public nifhost::core::test::EnifFixture {};
//   TEST_F(EnifMaps, X) { EXPECT_EQ(etf_of(enif_make_new_map(env)), *oracle().encode_text("#{}"));
//   }
#include <string>

#include <gtest/gtest.h>

#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/env.hpp"
#include "nifhost/core/heap.hpp"
#include "nifhost/core/terms.hpp"
#include "nifhost/testing/beam_oracle.hpp"

namespace nifhost::core::test {

using nifhost::testing::Bytes;

inline nifhost::testing::BeamOracle& oracle() { return nifhost::testing::shared_oracle(); }

struct TestEnv {
  Heap heap;
  EnvScope scope{EnvKind::kProcessBound, heap, nullptr, nullptr};
  ErlNifEnv* get() { return scope.get(); }
};

class EnifFixture : public ::testing::Test {
 protected:
  TestEnv te;
  ErlNifEnv* env = te.get();

  // The term the BEAM makes of `text`, decoded into env.
  ERL_NIF_TERM beam_term(const std::string& text) {
    auto etf = oracle().encode_text(text);
    EXPECT_TRUE(etf.has_value()) << text;
    if (!etf) return kNilTerm;
    ERL_NIF_TERM t = kNilTerm;
    EXPECT_EQ(enif_binary_to_term(env, etf->data(), etf->size(), &t, 0), etf->size()) << text;
    return t;
  }

  // The ETF bytes of `t`, as enif_term_to_binary gives them.
  Bytes etf_of(ERL_NIF_TERM t) {
    ErlNifBinary bin;
    EXPECT_TRUE(enif_term_to_binary(env, t, &bin));
    Bytes out(bin.data, bin.data + bin.size);
    enif_release_binary(&bin);
    return out;
  }

  // The bytes of binary `t`.
  std::string bytes_of(ERL_NIF_TERM t) {
    ErlNifBinary bin;
    EXPECT_TRUE(enif_inspect_binary(env, t, &bin));
    return std::string(reinterpret_cast<const char*>(bin.data), bin.size);
  }

  // `result` is the exception term and env holds a pending badarg.
  void expect_badarg(ERL_NIF_TERM result) {
    EXPECT_TRUE(enif_is_exception(env, result));
    ERL_NIF_TERM reason;
    ASSERT_TRUE(enif_has_pending_exception(env, &reason));
    EXPECT_EQ(reason, atom("badarg"));
  }
};

}  // namespace nifhost::core::test
