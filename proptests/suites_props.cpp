// The NIF suites beyond nh_terms, on every backend: binaries (a byte model
// and the BEAM), resources (a model of every object's references across
// calls and processes), messages (model mailboxes, and the BEAM's), yielding
// and dirty NIFs (closed forms and the BEAM), the upgrade chain (the BEAM's
// answers for load info and failures), and the metadata convention.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <erl_nif.h>
#include <map>
#include <numeric>
#include <optional>
#include <rapidcheck.h>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "gen.hpp"
#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/etf.hpp"
#include "nifhost/core/order.hpp"
#include "nifhost/core/terms.hpp"
#include "nifhost/core/text.hpp"
#include "nifhost/testing/hex.hpp"
#include "proptest.hpp"

namespace nifhost::proptests {
namespace {

using core::Heap;
using Args = std::vector<Term>;
using ByteVec = std::vector<std::uint8_t>;

Term integer(Heap& h, std::int64_t v) { return core::make_integer(h, v); }
Term uinteger(Heap& h, std::uint64_t v) { return core::make_unsigned(h, v); }
Term atom(std::string_view text) { return core::atom(text); }
Term bin(Heap& h, std::span<const std::uint8_t> bytes) { return *core::make_binary(h, bytes); }

std::optional<ByteVec> binary_bytes(Term t) {
  if (!core::is_bitstring(t)) return std::nullopt;
  auto view = core::bitstring_view(t);
  if (!view.is_binary()) return std::nullopt;
  return ByteVec(view.data, view.data + view.byte_size);
}

std::optional<std::int64_t> small(Term t) {
  return core::is_small(t) ? std::optional(core::small_value(t)) : std::nullopt;
}

// Empty if ours is `want` (=:=), or error:badarg when want is nullopt.
std::string expect(const core::CallResult& ours, std::optional<Term> want) {
  if (!want) return is_badarg(ours) ? "" : "expected error:badarg, got " + show(ours);
  if (!ours.ok() || !core::identical(ours.value(), *want))
    return "expected " + core::print_term(*want) + ", got " + show(ours);
  return {};
}

// 1 + ... + n modulo 2^64.
std::uint64_t triangle(std::uint64_t n) {
  return n % 2 == 0 ? (n / 2) * (n + 1) : n * ((n + 1) / 2);  // halve first: no overflow
}

// One call of a batch: what was called, our outcome, and the model's verdict.
struct BatchCase {
  std::string function;
  Args args;
  core::CallResult ours;
};

// Compares every case of a batch with the BEAM in one round trip.
void expect_batch_as_in_beam(std::string_view module, const std::vector<BatchCase>& cases) {
  std::vector<BeamRequest> requests;
  for (const auto& c : cases)
    requests.push_back({std::string(module), c.function, args_etf(c.args)});
  auto theirs = beam_calls(requests);
  for (std::size_t i = 0; i < cases.size(); ++i) {
    std::string wrong = beam_mismatch(cases[i].ours, theirs[i]);
    if (!wrong.empty())
      RC_FAIL(
          fmt::format("{}:{}{}: {}", module, cases[i].function, show_args(cases[i].args), wrong));
  }
}

// Loads a suite on the host and in the BEAM (same functions).
core::LibraryHandle load_both(Host& host, std::string_view suite) {
  core::LibraryHandle lib = host.load(suite);
  beam_load(suite_stem(suite), suite, host.backend().info(lib).value().functions);
  return lib;
}

// ================================================================== nh_binaries

Term binary_or_other(Heap& h) {
  switch (pick(0, 10)) {
    case 0:
      return any_odd_bitstring(h);
    case 1:
      return any_term(h, testing::TermGenOptions{.max_depth = 1});
    case 2:
      return any_binary(h, 3000);  // refc binaries
    default:
      return any_binary(h, 200);
  }
}

Term size_near(Heap& h, std::int64_t around) {
  switch (pick(0, 8)) {
    case 0:
      return integer(h, pick<std::int64_t>(-3, 0));
    case 1:
      return atom("ten");
    default:
      return integer(h, pick<std::int64_t>(0, std::max<std::int64_t>(around, 0) + 4));
  }
}

// An iolist, or sometimes something that is not one.
Term any_iolist(Heap& h, int depth, bool& valid) {
  const auto n = pick<std::size_t>(0, 6);
  Args elements;
  for (std::size_t i = 0; i < n; ++i) {
    switch (pick(0, depth >= 3 ? 3 : 4)) {
      case 0:
        elements.push_back(core::make_small(pick(0, 256)));
        break;
      case 1:
        elements.push_back(any_binary(h, 40));
        break;
      case 2:
        if (one_in(15)) {
          valid = false;
          elements.push_back(coin() ? core::make_small(256) : any_odd_bitstring(h));
        } else {
          elements.push_back(core::make_small(pick(0, 256)));
        }
        break;
      default:
        elements.push_back(any_iolist(h, depth + 1, valid));
    }
  }
  Term tail = core::kNilTerm;
  if (one_in(5)) tail = any_binary(h, 10);  // a binary tail is allowed
  return core::make_list(h, elements, tail);
}

// iolist_to_binary by the definition: bytes 0..255, binaries and iolists,
// with [] or a binary as the tail.
bool flatten_iolist(Term t, ByteVec& out) {
  if (auto b = binary_bytes(t)) {
    out.insert(out.end(), b->begin(), b->end());
    return true;
  }
  while (core::is_cons(t)) {
    Term head = core::cons_head(t);
    if (core::is_small(head)) {
      if (core::small_value(head) < 0 || core::small_value(head) > 255) return false;
      out.push_back(static_cast<std::uint8_t>(core::small_value(head)));
    } else if (core::is_list(head) || core::is_bitstring(head)) {
      if (!flatten_iolist(head, out)) return false;
    } else {
      return false;
    }
    t = core::cons_tail(t);
  }
  if (core::is_nil(t)) return true;
  auto b = binary_bytes(t);
  if (!b) return false;
  out.insert(out.end(), b->begin(), b->end());
  return true;
}

Term list_of_binaries(Heap& h) {
  Args bins(pick<std::size_t>(0, 8));
  for (Term& b : bins) b = any_binary(h, 30);
  if (!bins.empty() && one_in(10)) bins.back() = any_odd_bitstring(h);
  return core::make_list(h, bins);
}

// An element of an iovec list, as the BEAM's enif_inspect_iovec takes it: a
// binary, or a bitstring of fewer than 8 bits (skipped as empty); a longer
// bitstring that is not a binary is refused.
std::optional<ByteVec> iovec_bytes(Term t) {
  if (core::is_bitstring(t) && core::bitstring_view(t).byte_size == 0) return ByteVec{};
  return binary_bytes(t);
}

// A range [pos, pos + len) checked as nh_binaries checks it.
bool range_ok(std::optional<std::int64_t> pos, std::optional<std::int64_t> len, std::size_t size) {
  const auto s = static_cast<std::int64_t>(size);
  return pos && len && *pos >= 0 && *len >= 0 && *pos <= s && *len <= s - *pos;
}

ByteVec slice(const ByteVec& b, std::int64_t pos, std::int64_t len) {
  return ByteVec(b.begin() + pos, b.begin() + pos + len);
}

struct BinariesFunction {
  const char* name;
  Args (*args)(Heap& h);
  std::string (*check)(Heap& h, const Args& a, const core::CallResult& ours);
};

std::string copy_check(Heap& h, const Args& a, const core::CallResult& r) {
  auto b = binary_bytes(a[0]);
  return expect(r, b ? std::optional(bin(h, *b)) : std::nullopt);
}

const BinariesFunction kBinariesFunctions[] = {
    {"alloc", [](Heap& h) { return Args{binary_or_other(h)}; }, copy_check},
    {"make_new_binary", [](Heap& h) { return Args{binary_or_other(h)}; }, copy_check},
    {"echo_bin", [](Heap& h) { return Args{binary_or_other(h)}; }, copy_check},
    {"realloc",
     [](Heap& h) {
       Term b = binary_or_other(h);
       auto size = static_cast<std::int64_t>(binary_bytes(b) ? binary_bytes(b)->size() : 0);
       Term grow = integer(h, size + pick<std::int64_t>(-3, 400));
       Term shrink = integer(h, pick<std::int64_t>(-1, size + 410));
       return Args{b, grow, shrink};
     },
     [](Heap& h, const Args& a, const core::CallResult& r) {
       auto b = binary_bytes(a[0]);
       auto grow = small(a[1]);
       auto shrink = small(a[2]);
       if (!b || !grow || !shrink || *grow < static_cast<std::int64_t>(b->size()) || *shrink < 0 ||
           *shrink > *grow)
         return expect(r, std::nullopt);
       ByteVec want = *b;
       for (auto i = static_cast<std::int64_t>(b->size()); i < *grow; ++i)
         want.push_back(static_cast<std::uint8_t>(0x5A ^ (i & 0xFF)));
       want.resize(static_cast<std::size_t>(*shrink));
       return expect(r, bin(h, want));
     }},
    {"alloc_release", [](Heap& h) { return Args{size_near(h, 100000)}; },
     [](Heap&, const Args& a, const core::CallResult& r) {
       auto n = small(a[0]);
       return expect(r, n && *n >= 0 ? std::optional(core::atoms::kOk) : std::nullopt);
     }},
    {"sub_binary",
     [](Heap& h) {
       Term b = binary_or_other(h);
       auto size = static_cast<std::int64_t>(binary_bytes(b) ? binary_bytes(b)->size() : 4);
       return Args{b, size_near(h, size), size_near(h, size)};
     },
     [](Heap& h, const Args& a, const core::CallResult& r) {
       auto b = binary_bytes(a[0]);
       if (!b || !range_ok(small(a[1]), small(a[2]), b->size())) return expect(r, std::nullopt);
       return expect(r, bin(h, slice(*b, *small(a[1]), *small(a[2]))));
     }},
    {"sub_sub_binary",
     [](Heap& h) {
       Term b = binary_or_other(h);
       auto size = static_cast<std::int64_t>(binary_bytes(b) ? binary_bytes(b)->size() : 4);
       return Args{b, size_near(h, size / 2), size_near(h, size / 2), size_near(h, size / 4),
                   size_near(h, size / 4)};
     },
     [](Heap& h, const Args& a, const core::CallResult& r) {
       auto b = binary_bytes(a[0]);
       if (!b || !range_ok(small(a[1]), small(a[2]), b->size())) return expect(r, std::nullopt);
       ByteVec outer = slice(*b, *small(a[1]), *small(a[2]));
       if (!range_ok(small(a[3]), small(a[4]), outer.size())) return expect(r, std::nullopt);
       return expect(r, bin(h, slice(outer, *small(a[3]), *small(a[4]))));
     }},
    {"split",
     [](Heap& h) {
       Term b = binary_or_other(h);
       auto size = static_cast<std::int64_t>(binary_bytes(b) ? binary_bytes(b)->size() : 4);
       return Args{b, size_near(h, size)};
     },
     [](Heap& h, const Args& a, const core::CallResult& r) {
       auto b = binary_bytes(a[0]);
       auto pos = small(a[1]);
       if (!b || !pos || *pos < 0 || *pos > static_cast<std::int64_t>(b->size()))
         return expect(r, std::nullopt);
       const auto size = static_cast<std::int64_t>(b->size());
       return expect(r, core::make_tuple(
                            h, {bin(h, slice(*b, 0, *pos)), bin(h, slice(*b, *pos, size - *pos))}));
     }},
    {"checksum", [](Heap& h) { return Args{binary_or_other(h)}; },
     [](Heap& h, const Args& a, const core::CallResult& r) {
       auto b = binary_bytes(a[0]);
       if (!b) return expect(r, std::nullopt);
       return expect(r, uinteger(h, std::accumulate(b->begin(), b->end(), std::uint64_t{0})));
     }},
    {"iolist_to_binary",
     [](Heap& h) {
       bool valid = true;
       if (one_in(8)) return Args{binary_or_other(h)};
       return Args{any_iolist(h, 0, valid)};
     },
     [](Heap& h, const Args& a, const core::CallResult& r) {
       ByteVec flat;
       if (!flatten_iolist(a[0], flat)) return expect(r, std::nullopt);
       return expect(r, bin(h, flat));
     }},
    {"reverse", [](Heap& h) { return Args{binary_or_other(h)}; },
     [](Heap& h, const Args& a, const core::CallResult& r) {
       auto b = binary_bytes(a[0]);
       if (!b) return expect(r, std::nullopt);
       std::reverse(b->begin(), b->end());
       return expect(r, bin(h, *b));
     }},
    {"concat",
     [](Heap& h) {
       return Args{binary_or_other(h), binary_or_other(h)};
     },
     [](Heap& h, const Args& a, const core::CallResult& r) {
       auto x = binary_bytes(a[0]);
       auto y = binary_bytes(a[1]);
       if (!x || !y) return expect(r, std::nullopt);
       x->insert(x->end(), y->begin(), y->end());
       return expect(r, bin(h, *x));
     }},
    {"size", [](Heap& h) { return Args{binary_or_other(h)}; },
     [](Heap& h, const Args& a, const core::CallResult& r) {
       auto b = binary_bytes(a[0]);
       return expect(
           r, b ? std::optional(integer(h, static_cast<std::int64_t>(b->size()))) : std::nullopt);
     }},
    {"fill",
     [](Heap& h) {
       Term byte = integer(h, one_in(10) ? 256 : pick(0, 256));
       return Args{size_near(h, 5000), byte};
     },
     [](Heap& h, const Args& a, const core::CallResult& r) {
       auto n = small(a[0]);
       auto byte = small(a[1]);
       if (!n || *n < 0 || !byte || *byte > 255) return expect(r, std::nullopt);
       return expect(
           r, bin(h, ByteVec(static_cast<std::size_t>(*n), static_cast<std::uint8_t>(*byte))));
     }},
    {"iovec",
     [](Heap& h) {
       return Args{list_of_binaries(h), integer(h, pick(1, 10))};
     },
     [](Heap& h, const Args& a, const core::CallResult& r) {
       auto bins = list_elements(a[0]);
       ByteVec data;
       std::size_t taken = 0;
       const auto max = static_cast<std::size_t>(*small(a[1]));
       for (; taken < bins.size() && taken < max; ++taken) {
         auto b = iovec_bytes(bins[taken]);
         if (!b) return expect(r, std::nullopt);
         data.insert(data.end(), b->begin(), b->end());
       }
       // A non-binary past the limit is not looked at.
       Args rest(bins.begin() + static_cast<std::ptrdiff_t>(taken), bins.end());
       return expect(r, core::make_tuple(h, {bin(h, data), core::make_list(h, rest)}));
     }},
    {"ioq",
     [](Heap& h) {
       Term bins = list_of_binaries(h);
       std::size_t total = 1;
       for (Term b : list_elements(bins)) total += binary_bytes(b) ? binary_bytes(b)->size() : 0;
       return Args{bins, integer(h, pick<std::int64_t>(0, static_cast<std::int64_t>(total) + 2))};
     },
     [](Heap& h, const Args& a, const core::CallResult& r) {
       ByteVec data;
       for (Term b : list_elements(a[0])) {
         auto bytes = iovec_bytes(b);
         if (!bytes) return expect(r, std::nullopt);
         data.insert(data.end(), bytes->begin(), bytes->end());
       }
       data.push_back('!');
       const auto skip = static_cast<std::size_t>(*small(a[1]));
       if (skip > data.size()) return expect(r, std::nullopt);
       // {Head, Before, After, Rest}: Head (the first queued binary) is the BEAM's to check.
       if (!r.ok() || !core::is_tuple(r.value()) || core::tuple_arity(r.value()) != 4)
         return "expected {Head, Before, After, Rest}, got " + show(r);
       const Term* e = core::tuple_elements(r.value());
       Term want = core::make_tuple(
           h, {e[0], integer(h, static_cast<std::int64_t>(data.size())),
               integer(h, static_cast<std::int64_t>(data.size() - skip)),
               bin(h, ByteVec(data.begin() + static_cast<std::ptrdiff_t>(skip), data.end()))});
       return expect(r, want);
     }},
};

class BinariesProps : public ::testing::TestWithParam<BackendKind> {};

TEST_P(BinariesProps, BytesAnswerAsTheModelAndTheBeam) {
  Host host(GetParam());
  const core::LibraryHandle lib = load_both(host, "nh_binaries");
  check_property(8, [&] {
    Heap heap;
    model::Process& caller = host.vm().spawn();
    std::vector<BatchCase> cases;
    for (int i = 0; i < 30; ++i) {
      const auto& fn = kBinariesFunctions[pick<std::size_t>(0, std::size(kBinariesFunctions))];
      Args args = fn.args(heap);
      core::CallResult ours = host.call(caller, lib, fn.name, args);
      std::string wrong = fn.check(heap, args, ours);
      if (!wrong.empty())
        RC_FAIL(fmt::format("nh_binaries:{}{}: {}", fn.name, show_args(args), wrong));
      cases.push_back({fn.name, std::move(args), std::move(ours)});
    }
    expect_batch_as_in_beam("nh_binaries", cases);
  });
}

NIFHOST_FOR_EVERY_BACKEND(BinariesProps);

// ================================================================== nh_resources

// The model: every object the library made, who holds its term, and what
// else keeps it alive. An object is destructed exactly when the last of
// these goes: its term (on the heap of the process that made it), binaries
// made from it (on any process's heap), and keep/1 references.
struct ModelObject {
  enum class Type { kCounter, kOther, kDyn } type;
  std::int64_t value;
  std::int64_t initial;
  std::size_t holder;  // the process whose heap holds its term
  Term term;           // valid while term_alive
  bool term_alive = true;
  int binaries = 0;  // resource binaries still on some heap
  int keeps = 0;
  bool destructed = false;
};

struct ModelBinary {
  std::size_t object;
  std::size_t holder;
};

class ResourcesProps : public ::testing::TestWithParam<BackendKind> {};

TEST_P(ResourcesProps, DestructorsRunWhenTheLastReferenceGoes) {
  Host host(GetParam());
  const core::LibraryHandle lib = host.load("nh_resources");
  // A resource binary (enif_make_resource_binary) keeps its object alive in
  // the BEAM and in-process. From a worker it reaches the host as a copy of
  // its bytes, which keeps nothing alive in the worker.
  const bool binaries_keep_objects = GetParam() == BackendKind::kInproc;
  check_property(12, [&] {
    std::vector<model::Process*> procs;
    for (int i = 0; i < 3; ++i) procs.push_back(&host.vm().spawn());
    Heap args_heap;  // integers only: no references live here
    auto call = [&](std::size_t p, std::string_view fn, Args args) {
      return host.call(*procs[p], lib, fn, args);
    };
    auto count = [&](std::string_view fn) {
      core::CallResult r = call(0, fn, {});
      if (!r.ok() || !core::integer_to_int64(r.value())) RC_FAIL(std::string(fn) + ": " + show(r));
      return *core::integer_to_int64(r.value());
    };
    const std::int64_t base_destructed = count("destructor_count");
    const std::int64_t base_live = count("live_count");

    std::vector<ModelObject> objects;
    std::vector<ModelBinary> binaries;
    auto settle = [&] {
      for (auto& o : objects)
        if (!o.destructed && !o.term_alive && o.binaries == 0 && o.keeps == 0) o.destructed = true;
    };
    // A destructor may run after the call that dropped the last reference
    // returns: the BEAM runs it when the holder's heap is collected, and an
    // isolated backend when the worker hears that the handle is gone. So the
    // counts must reach the model's soon, and never run ahead of it (an
    // object still referenced is never destructed).
    auto expect_counts = [&](std::string_view when) {
      settle();
      std::int64_t destructed = 0, live = 0;
      for (const auto& o : objects) (o.destructed ? destructed : live) += 1;
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      for (;;) {
        const std::int64_t d = count("destructor_count") - base_destructed;
        const std::int64_t l = count("live_count") - base_live;
        const std::int64_t again = count("destructor_count") - base_destructed;
        if (d > destructed || again > destructed)
          RC_FAIL(fmt::format("after {}: {} destructed, but only {} objects are unreferenced", when,
                              std::max(d, again), destructed));
        if (d == again && d == destructed && l == live) return;
        if (std::chrono::steady_clock::now() > deadline)
          RC_FAIL(fmt::format("after {}: {} destructed and {} live, the model says {} and {}", when,
                              d, l, destructed, live));
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    };
    auto pick_held = [&](std::size_t p_hint) -> std::optional<std::size_t> {
      std::vector<std::size_t> held;
      for (std::size_t i = 0; i < objects.size(); ++i)
        if (objects[i].term_alive) held.push_back(i);
      if (held.empty()) return std::nullopt;
      return held[(p_hint + pick<std::size_t>(0, held.size())) % held.size()];
    };
    auto clear = [&](std::size_t p) {
      // keep/1 references are given back first: nothing could release them later.
      for (auto& o : objects)
        if (o.term_alive && o.holder == p)
          for (; o.keeps > 0; --o.keeps)
            if (!call(p, "release", {o.term}).ok()) RC_FAIL("release failed");
      procs[p]->heap().clear();
      for (auto& o : objects)
        if (o.term_alive && o.holder == p) o.term_alive = false;
      std::erase_if(binaries, [&](const ModelBinary& b) {
        if (b.holder != p) return false;
        objects[b.object].binaries -= 1;
        return true;
      });
    };

    const int steps = pick(10, 40);
    for (int step = 0; step < steps; ++step) {
      const auto p = pick<std::size_t>(0, procs.size());
      const int op = pick(0, 10);
      if (op <= 2) {  // new/1, new_other/1, new_dyn/1
        const auto type = static_cast<ModelObject::Type>(pick(0, 3));
        const std::int64_t v = pick<std::int64_t>(-1000000, 1000000);
        const char* fn = type == ModelObject::Type::kCounter ? "new"
                         : type == ModelObject::Type::kOther ? "new_other"
                                                             : "new_dyn";
        core::CallResult r = call(p, fn, {integer(args_heap, v)});
        if (!r.ok() || !core::is_reference(r.value()))
          RC_FAIL(fmt::format("{}({}): {}", fn, v, show(r)));
        objects.push_back({type, v, v, p, r.value()});
        const char* kind = type == ModelObject::Type::kCounter ? "counter"
                           : type == ModelObject::Type::kOther ? "other"
                                                               : "dyn";
        if (std::string err = expect(call(p, "is_resource", {r.value()}), atom(kind)); !err.empty())
          RC_FAIL("is_resource: " + err);
        continue;
      }
      auto i = pick_held(p);
      if (!i) continue;
      ModelObject& o = objects[*i];
      const bool counter = o.type == ModelObject::Type::kCounter;
      std::string err;
      switch (op) {
        case 3: {  // get/1 and get_other/1 (a later call, maybe another process)
          if (counter) {
            err = expect(call(p, "get", {o.term}), integer(args_heap, o.value));
            if (err.empty()) err = expect(call(p, "get_other", {o.term}), std::nullopt);
          } else {
            err = expect(call(p, "get", {o.term}), std::nullopt);
            if (err.empty() && o.type == ModelObject::Type::kOther)
              err = expect(call(p, "get_other", {o.term}), integer(args_heap, o.value));
          }
          break;
        }
        case 4: {  // set/2
          const std::int64_t v = pick<std::int64_t>(-1000, 1000);
          err = expect(call(p, "set", {o.term, integer(args_heap, v)}),
                       counter ? std::optional(core::atoms::kOk) : std::nullopt);
          if (counter) o.value = v;
          break;
        }
        case 5: {  // make_binary_from_resource/1: a binary that keeps the object
          core::CallResult r = call(p, "make_binary_from_resource", {o.term});
          if (!counter) {
            err = expect(r, std::nullopt);
            break;
          }
          const std::string label = fmt::format("counter:{}", o.initial);
          err = expect(r, core::make_binary(args_heap, label));
          if (err.empty() && binaries_keep_objects) {
            o.binaries += 1;
            binaries.push_back({*i, p});
          }
          break;
        }
        case 6: {  // keep/1 (counters only)
          if (!counter) break;
          err = expect(call(p, "keep", {o.term}), core::atoms::kOk);
          o.keeps += 1;
          break;
        }
        case 7: {  // release/1, balancing a keep
          if (!counter || o.keeps == 0) break;
          err = expect(call(p, "release", {o.term}), core::atoms::kOk);
          o.keeps -= 1;
          break;
        }
        case 8: {  // dyn_call/2
          const std::int64_t x = pick<std::int64_t>(-1000, 1000);
          err = expect(
              call(p, "dyn_call", {o.term, integer(args_heap, x)}),
              o.type == ModelObject::Type::kDyn
                  ? core::make_tuple(args_heap, {core::atoms::kOk, integer(args_heap, x + o.value)})
                  : core::atoms::kError);
          break;
        }
        default:  // a process lets go of everything on its heap
          clear(p);
          expect_counts(fmt::format("clearing process {}", p));
      }
      if (!err.empty()) RC_FAIL(fmt::format("step {} on object {}: {}", step, *i, err));
    }
    expect_counts("the last step");
    for (std::size_t p = 0; p < procs.size(); ++p) clear(p);
    expect_counts("clearing every process");
    if (count("live_count") != base_live) RC_FAIL("objects outlive every reference");
  });
}

NIFHOST_FOR_EVERY_BACKEND(ResourcesProps);

// ================================================================== nh_messages

class MessagesProps : public ::testing::TestWithParam<BackendKind> {};

TEST_P(MessagesProps, MessagesLandInTheRightMailboxesInOrder) {
  Host host(GetParam());
  const core::LibraryHandle lib = load_both(host, "nh_messages");
  int run = 0;
  check_property(10, [&] {
    Heap heap;  // arguments and the model's copies of the messages
    model::Process& a = host.vm().spawn();
    model::Process& b = host.vm().spawn();
    model::Process& dead = host.vm().spawn();
    host.vm().exit(dead, core::atoms::kNormal);
    const Term name = core::atom(fmt::format("nh_registered_{}", run++));
    if (!host.vm().register_name(name, b)) RC_FAIL("register_name failed");
    std::deque<Term> mailbox_a, mailbox_b;
    std::vector<std::string> beam_lines{testing::oracle_request::flush()};
    std::vector<Term> beam_sent;  // what send_self sends in the BEAM, in order
    auto call = [&](std::string_view fn, Args args) { return host.call(a, lib, fn, args); };

    const int steps = pick(5, 25);
    for (int step = 0; step < steps; ++step) {
      const Term msg = any_term(heap, testing::TermGenOptions{.max_depth = 3});
      std::string err;
      switch (pick(0, 9)) {
        case 0: {
          err = expect(call("send_self", {msg}), core::atoms::kTrue);
          mailbox_a.push_back(msg);
          beam_sent.push_back(msg);
          beam_lines.push_back(
              testing::oracle_request::call("nh_messages", "send_self", args_etf(Args{msg})));
          break;
        }
        case 1:
          err = expect(call("send_to", {b.pid(), msg}), core::atoms::kTrue);
          mailbox_b.push_back(msg);
          break;
        case 2:
          err = expect(call("send_from_alloc_env", {b.pid(), msg}), core::atoms::kTrue);
          mailbox_b.push_back(msg);
          break;
        case 3:
          err = expect(call("send_from_thread", {b.pid(), msg}), core::atoms::kTrue);
          mailbox_b.push_back(msg);
          break;
        case 4: {
          const auto n = pick(0, 20);
          err = expect(call("send_n", {b.pid(), integer(heap, n)}), core::atoms::kOk);
          for (int i = 1; i <= n; ++i)
            mailbox_b.push_back(core::make_tuple(heap, {atom("nh_seq"), integer(heap, i)}));
          break;
        }
        case 5: {
          const char* fn = *rc::gen::elementOf(
              std::vector<const char*>{"send_to", "send_from_alloc_env", "send_from_thread"});
          err = expect(call(fn, {dead.pid(), msg}), core::atoms::kFalse);
          break;
        }
        case 6:
          err = expect(call("whereis", {name}), b.pid());
          if (err.empty())
            err = expect(call("whereis", {atom("nh_nobody_registered")}), core::atoms::kUndefined);
          break;
        case 7:
          err = expect(call("is_process_alive", {b.pid()}), core::atoms::kTrue);
          if (err.empty())
            err = expect(call("is_process_alive", {dead.pid()}), core::atoms::kFalse);
          break;
        default:
          err = expect(call("self", {}), a.pid());
      }
      if (!err.empty()) RC_FAIL(fmt::format("step {}: {}", step, err));
    }
    // Every message arrived, once, in order, and only where it was sent.
    for (auto [process, model] : {std::pair{&a, &mailbox_a}, std::pair{&b, &mailbox_b}}) {
      for (std::size_t i = 0; !model->empty(); ++i) {
        auto got = process->receive();
        if (!got)
          RC_FAIL(fmt::format("message {} missing: {}", i, core::print_term(model->front())));
        if (!core::identical(*got, model->front()))
          RC_FAIL(fmt::format("message {}: got {}, sent {}", i, core::print_term(*got),
                              core::print_term(model->front())));
        model->pop_front();
      }
      if (process->mailbox_size() != 0) RC_FAIL("more messages than were sent");
    }
    // The BEAM's caller receives what send_self sent it, the same terms.
    beam_lines.push_back(testing::oracle_request::flush());
    auto answers = beam_pipeline(beam_lines);
    for (std::size_t i = 1; i + 1 < answers.size(); ++i) {
      auto outcome = testing::oracle_answer::parse_call(answers[i]);
      if (!outcome || outcome->raised) RC_FAIL("send_self in the BEAM: " + answers[i]);
    }
    auto flushed = testing::oracle_answer::parse_etf(answers.back());
    if (!flushed) RC_FAIL("flush: " + testing::describe(flushed.error()));
    const Term sent = core::make_list(heap, beam_sent);
    if (!beam_same_term(sent, *flushed)) {
      auto got = core::decode(*flushed, heap);
      RC_FAIL("send_self sent " + core::print_term(sent) + ", the BEAM's caller received " +
              (got ? core::print_term(*got) : testing::to_hex(*flushed)));
    }
  });
}

NIFHOST_FOR_EVERY_BACKEND(MessagesProps);

// ================================================================== nh_sched

class SchedProps : public ::testing::TestWithParam<BackendKind> {};

TEST_P(SchedProps, YieldingAndDirtyCallsFinishWithTheirResult) {
  Host host(GetParam());
  const core::LibraryHandle lib = load_both(host, "nh_sched");
  check_property(6, [&] {
    Heap heap;
    model::Process& caller = host.vm().spawn();
    std::vector<BatchCase> cases;
    for (int i = 0; i < 12; ++i) {
      std::string fn;
      Args args;
      std::optional<Term> want;
      switch (pick(0, 9)) {
        case 0: {
          const auto n = pick<std::int64_t>(0, 3000);
          fn = "countdown";
          args = {integer(heap, n)};
          want = core::make_tuple(heap, {atom("done"), integer(heap, n)});
          break;
        }
        case 1: {
          const auto n = pick<std::uint64_t>(0, 3000000);
          fn = "yielding_sum";
          args = {uinteger(heap, n)};
          want = uinteger(heap, triangle(n));
          break;
        }
        case 2:
        case 3: {
          const auto n = pick<std::uint64_t>(0, 1000000);
          fn = *rc::gen::elementOf(std::vector<std::string>{"dirty_cpu", "dirty_io"});
          args = {uinteger(heap, n)};
          want = uinteger(heap, triangle(n));
          break;
        }
        case 4: {
          const auto n = pick<std::uint64_t>(0, 100000);
          fn = "schedule_to_dirty";
          args = {uinteger(heap, n)};
          want = core::make_tuple(
              heap, {core::make_list(heap, {atom("normal"), atom("dirty_cpu"), atom("normal")}),
                     uinteger(heap, triangle(n))});
          break;
        }
        case 5: {
          fn = *rc::gen::elementOf(
              std::vector<std::string>{"dirty_cpu_type", "dirty_io_type", "thread_type"});
          want = atom(fn == "dirty_cpu_type"  ? "dirty_cpu"
                      : fn == "dirty_io_type" ? "dirty_io"
                                              : "normal");
          break;
        }
        case 6: {
          const auto t = pick<std::int64_t>(1, 9);
          const auto per = pick<std::int64_t>(0, 2000);
          fn = "thread_sum";
          args = {integer(heap, t), integer(heap, per)};
          want = integer(heap, t * per);
          break;
        }
        case 7: {
          fn = *rc::gen::elementOf(std::vector<std::string>{"trylocks", "cond_signal"});
          want = core::atoms::kTrue;
          break;
        }
        default: {
          fn = *rc::gen::elementOf(
              std::vector<std::string>{"countdown", "yielding_sum", "dirty_cpu"});
          args = {coin() ? integer(heap, -1) : atom("many")};
          want = std::nullopt;  // badarg
        }
      }
      core::CallResult ours = host.call(caller, lib, fn, args);
      if (std::string err = expect(ours, want); !err.empty())
        RC_FAIL(fmt::format("nh_sched:{}{}: {}", fn, show_args(args), err));
      cases.push_back({fn, std::move(args), std::move(ours)});
    }
    expect_batch_as_in_beam("nh_sched", cases);
  });
}

NIFHOST_FOR_EVERY_BACKEND(SchedProps);

// ================================================================== nh_upgrade

core::LibrarySpec upgrade_spec(int version, const Bytes& info) {
  core::LibrarySpec spec = library_spec(suite_path(version == 1 ? "nh_upgrade" : "nh_upgrade_v2"));
  spec.load_info_etf = info;
  return spec;
}

std::string upgrade_stem(int version) {
  return suite_stem(version == 1 ? "nh_upgrade" : "nh_upgrade_v2");
}

class UpgradeProps : public ::testing::TestWithParam<BackendKind> {};

TEST_P(UpgradeProps, UpgradeChainsKeepTheirCountsAndOldHandlesGoStale) {
  check_property(6, [&] {
    Host host(GetParam());
    Heap heap;
    // Load info terms are kept by the library in an env of its own and given back.
    auto info_term = [&] { return any_term(heap, testing::TermGenOptions{.max_depth = 2}); };
    auto value = [&](core::LibraryHandle lib, std::string_view fn) {
      core::CallResult r = host.call(lib, fn, {});
      if (!r.ok()) RC_FAIL(std::string(fn) + ": " + show(r));
      return r.value();
    };
    auto counts = [&](int loads, int upgrades, int unloads) {
      return core::make_tuple(
          heap, {integer(heap, loads), integer(heap, upgrades), integer(heap, unloads)});
    };
    std::vector<core::FunctionInfo> functions;

    Term info = info_term();
    int version = 1;
    core::LibraryHandle lib = host.load_spec(upgrade_spec(1, etf(info)));
    functions = host.backend().info(lib).value().functions;
    // In the BEAM the first load is a load, the next ones are upgrades.
    if (std::string e = beam_reload(upgrade_stem(1), "nh_upgrade", functions, etf(info));
        !e.empty())
      RC_FAIL("the BEAM refuses nh_upgrade: " + e);
    if (!core::identical(value(lib, "load_info"), info)) RC_FAIL("load_info differs after load");
    if (!core::identical(value(lib, "priv_counts"), counts(1, 0, 0))) RC_FAIL("counts after load");

    int upgrades = 0;
    const int steps = pick(1, 5);
    for (int step = 0; step < steps; ++step) {
      const int next = 3 - version;
      const bool fail = one_in(3);
      const int code = pick(1, 100);
      Term next_info =
          fail ? core::make_tuple(heap, {atom("fail"), integer(heap, code)}) : info_term();
      const core::FunctionHandle old_fn = host.function(lib, "version", 0);
      auto upgraded = host.backend().upgrade(lib, upgrade_spec(next, etf(next_info)));
      const std::string beam_error =
          beam_reload(upgrade_stem(next), "nh_upgrade", functions, etf(next_info));
      if (fail) {
        const std::string text = fmt::format("Library upgrade-call unsuccessful ({}).", code);
        if (upgraded || upgraded.error().code != core::LoadErrc::kUpgrade ||
            upgraded.error().text != text)
          RC_FAIL("a vetoed upgrade: " +
                  (upgraded ? std::string("succeeded") : upgraded.error().message()));
        if (beam_error != "upgrade " + text) RC_FAIL("the BEAM said: " + beam_error);
        // The old library carries on, with its load info.
        if (!core::identical(value(lib, "version"), integer(heap, version)))
          RC_FAIL("version after a veto");
        if (!core::identical(value(lib, "load_info"), info)) RC_FAIL("load_info after a veto");
      } else {
        if (!upgraded) RC_FAIL("upgrade: " + upgraded.error().message());
        if (!beam_error.empty()) RC_FAIL("the BEAM refuses the upgrade: " + beam_error);
        if (*upgraded == lib) RC_FAIL("an upgrade kept the handle");
        core::CallResult stale = host.vm().call(host.self(), old_fn, {});
        if (!is_contained(stale)) RC_FAIL("a stale handle was followed: " + show(stale));
        if (host.backend().info(lib)) RC_FAIL("info() answers for a stale handle");
        lib = *upgraded;
        version = next;
        info = next_info;
        upgrades += 1;
        // The old instance was purged: its unload callback has run.
        if (!core::identical(value(lib, "priv_counts"), counts(1, upgrades, upgrades)))
          RC_FAIL("counts after an upgrade: " + core::print_term(value(lib, "priv_counts")));
        if (!core::identical(value(lib, "version"), integer(heap, version)))
          RC_FAIL("version after upgrade");
      }
      // The BEAM's current instance answers as ours does.
      std::vector<BeamRequest> requests{{"nh_upgrade", "load_info", args_etf({})},
                                        {"nh_upgrade", "version", args_etf({})}};
      auto theirs = beam_calls(requests);
      std::string wrong = beam_mismatch(host.call(lib, "load_info", {}), theirs[0]);
      if (wrong.empty()) wrong = beam_mismatch(host.call(lib, "version", {}), theirs[1]);
      if (!wrong.empty()) RC_FAIL("after step " + std::to_string(step) + ": " + wrong);
    }
    // Unloading ends the chain; a new load starts a new one.
    if (!host.backend().unload(lib)) RC_FAIL("unload failed");
    if (host.backend().info(lib)) RC_FAIL("info() answers after unload");
    lib = host.load_spec(upgrade_spec(1, etf(core::make_small(0))));
    if (!core::identical(value(lib, "priv_counts"), counts(1, 0, 0)))
      RC_FAIL("counts after reload");
  });
}

NIFHOST_FOR_EVERY_BACKEND(UpgradeProps);

// ================================================================== nh_meta

class MetaProps : public ::testing::TestWithParam<BackendKind> {};

TEST_P(MetaProps, MetadataLibrariesLoadAndAnswer) {
  Host host(GetParam());
  const core::LibraryHandle lib = host.load("nh_meta");
  const core::LibraryInfo info = host.backend().info(lib).value();
  EXPECT_TRUE(info.via_metadata);
  EXPECT_EQ(info.module, "nh_meta");
  EXPECT_EQ(info.module_version, "1.0.0");
  ASSERT_EQ(info.functions.size(), 3u);
  EXPECT_EQ(info.functions[0].name, "hello");
  EXPECT_EQ(info.functions[1].name, "sum");
  EXPECT_EQ(info.functions[1].arity, 2u);
  EXPECT_EQ(info.functions[2].name, "dirty_sum");
  EXPECT_EQ(info.functions[2].flags, unsigned{ERL_NIF_DIRTY_JOB_CPU_BOUND});

  check_property(10, [&] {
    Heap heap;
    model::Process& caller = host.vm().spawn();
    for (int i = 0; i < 20; ++i) {
      std::string err;
      switch (pick(0, 3)) {
        case 0:
          err = expect(host.call(caller, lib, "hello", {}),
                       core::make_binary(heap, "hello from nh_meta"));
          break;
        case 1: {
          Term x = any_integer(heap);
          Term y = one_in(10) ? any_atom(heap) : any_integer(heap);
          auto a = core::integer_to_int64(x);
          auto b = core::integer_to_int64(y);
          std::int64_t sum;
          const bool ok = core::is_integer(y) && a && b && !__builtin_add_overflow(*a, *b, &sum);
          err = expect(host.call(caller, lib, "sum", {x, y}),
                       ok ? std::optional(integer(heap, sum)) : std::nullopt);
          break;
        }
        default: {
          const bool too_big = one_in(8);
          const std::uint64_t n = too_big ? (std::uint64_t{1} << 32) + pick<std::uint64_t>(1, 1000)
                                          : pick<std::uint64_t>(0, 200000);
          err = expect(host.call(caller, lib, "dirty_sum", {uinteger(heap, n)}),
                       too_big ? std::nullopt : std::optional(uinteger(heap, triangle(n))));
        }
      }
      if (!err.empty()) RC_FAIL(err);
    }
  });
}

NIFHOST_FOR_EVERY_BACKEND(MetaProps);

}  // namespace
}  // namespace nifhost::proptests
