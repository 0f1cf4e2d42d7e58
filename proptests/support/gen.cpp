#include "gen.hpp"

#include <algorithm>
#include <array>
#include <random>

#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/order.hpp"
#include "nifhost/core/terms.hpp"

namespace nifhost::proptests {

namespace {

// The BEAM's limits on identifiers of the local node (erts external.c).
constexpr std::uint32_t kPidNumberMask = 0x7fff;
constexpr std::uint32_t kPidSerialMask = 0x1fff;
constexpr std::uint64_t kPortNumberMask = 0xfffffff;
constexpr std::uint32_t kRefFirstWordMask = 0x3ffff;

bool is_local_node(Term node, std::uint32_t creation) {
  return node == core::atoms::kNonode && creation == core::kLocalCreation;
}

}  // namespace

Term beam_safe(core::Heap& heap, Term t) {
  if (core::is_local_pid(t))
    return core::make_local_pid(core::local_pid_id(t) & kPidNumberMask,
                                core::local_pid_serial(t) & kPidSerialMask);
  if (core::is_local_port(t))
    return core::make_local_port(core::local_port_number(t) & kPortNumberMask);
  if (core::is_cons(t)) {
    std::vector<Term> elements;
    Term cur = t;
    for (; core::is_cons(cur); cur = core::cons_tail(cur))
      elements.push_back(beam_safe(heap, core::cons_head(cur)));
    return core::make_list(heap, elements, beam_safe(heap, cur));
  }
  if (core::is_tuple(t)) {
    std::vector<Term> elements(core::tuple_elements(t),
                               core::tuple_elements(t) + core::tuple_arity(t));
    for (Term& e : elements) e = beam_safe(heap, e);
    return core::make_tuple(heap, elements);
  }
  if (core::is_map(t)) {
    std::vector<Term> keys, values;
    for (std::size_t i = 0; i < core::map_size(t); ++i) {
      Term k = beam_safe(heap, core::map_keys(t)[i]);
      if (std::any_of(keys.begin(), keys.end(), [&](Term o) { return core::identical(o, k); }))
        continue;
      keys.push_back(k);
      values.push_back(beam_safe(heap, core::map_values(t)[i]));
    }
    return *core::make_map(heap, keys, values);
  }
  if (core::is_boxed_of(t, core::Subtag::kRef)) {
    core::RefView r = core::ref_view(t);
    if (is_local_node(r.node, r.creation)) {
      std::array<std::uint32_t, 3> ids{};
      for (std::size_t i = 0; i < std::min<std::size_t>(r.count, 3); ++i) ids[i] = r.id[i];
      ids[0] &= kRefFirstWordMask;
      return core::make_ref(heap, r.node, r.creation, ids);
    }
  }
  return core::copy_term(heap, t);
}

Term any_term(core::Heap& heap, const testing::TermGenOptions& options) {
  testing::OwnedTerm t = *testing::gen_term(options);
  return beam_safe(heap, t.term);
}

Term any_atomless_term(core::Heap& heap, int depth) {
  switch (pick(0, depth >= 3 ? 5 : 9)) {
    case 0:
    case 1:
      return any_integer(heap);
    case 2:
      return any_float(heap);
    case 3:
      return any_binary(heap, 100);
    case 4:
      return core::kNilTerm;
    case 5: {
      std::vector<Term> elements(pick<std::size_t>(0, 5));
      for (Term& e : elements) e = any_atomless_term(heap, depth + 1);
      return core::make_tuple(heap, elements);
    }
    case 6: {
      std::vector<Term> elements(pick<std::size_t>(1, 5));
      for (Term& e : elements) e = any_atomless_term(heap, depth + 1);
      return core::make_list(heap, elements);
    }
    default: {
      std::vector<Term> keys, values;
      const auto n = pick<std::size_t>(0, 8);
      for (std::size_t i = 0; i < n; ++i) {
        Term k = any_atomless_term(heap, depth + 1);
        if (std::any_of(keys.begin(), keys.end(), [&](Term o) { return core::identical(o, k); }))
          continue;
        keys.push_back(k);
        values.push_back(any_atomless_term(heap, depth + 1));
      }
      return *core::make_map(heap, keys, values);
    }
  }
}

Term any_large_term(core::Heap& heap) {
  std::mt19937_64 random(any_u64());
  auto below = [&](std::uint64_t n) { return random() % n; };
  std::vector<std::uint8_t> bytes(below(100 * 1024));
  for (auto& b : bytes) b = static_cast<std::uint8_t>(random());
  std::vector<Term> list(below(2000));
  for (Term& e : list) e = core::make_small(static_cast<std::int64_t>(below(1u << 20)) - (1 << 19));
  std::vector<std::uint64_t> digits(1 + below(40));
  for (auto& d : digits) d = random();
  std::vector<Term> keys, values;
  std::int64_t key = 0;
  for (std::uint64_t i = below(500); i > 0; --i) {
    key += 1 + static_cast<std::int64_t>(below(1000));
    keys.push_back(core::make_small(key));
    values.push_back(core::make_small(static_cast<std::int64_t>(below(1000))));
  }
  return core::make_tuple(
      heap, {*core::make_binary(heap, bytes), core::make_list(heap, list),
             core::make_bignum(heap, below(2) == 0, digits), *core::make_map(heap, keys, values)});
}

Term any_integer(core::Heap& heap) {
  return testing::detail::gen_integer(heap, testing::TermGenOptions{});
}

Term any_float(core::Heap& heap) { return testing::detail::gen_float(heap); }

Term any_atom(core::Heap& heap) { return testing::detail::gen_atom(heap); }

std::vector<std::uint8_t> any_bytes(std::size_t max_size) {
  const auto size = pick<std::size_t>(0, max_size + 1);
  std::vector<std::uint8_t> bytes(size);
  const bool printable = coin();
  for (auto& b : bytes)
    b = printable ? static_cast<std::uint8_t>(pick(32, 127))
                  : static_cast<std::uint8_t>(pick(0, 256));
  return bytes;
}

Term any_binary(core::Heap& heap, std::size_t max_size) {
  auto bytes = any_bytes(max_size);
  if (pick(0, 3) != 0) return *core::make_binary(heap, bytes);
  // A sub-binary: the bytes sit inside a larger binary.
  const auto before = pick<std::size_t>(0, 80);
  const auto after = pick<std::size_t>(0, 80);
  std::vector<std::uint8_t> whole(before, 0xEE);
  whole.insert(whole.end(), bytes.begin(), bytes.end());
  whole.insert(whole.end(), after, 0xDD);
  Term outer = *core::make_binary(heap, whole);
  return core::make_sub_binary(heap, outer, before, bytes.size());
}

Term any_odd_bitstring(core::Heap& heap) {
  auto bytes = any_bytes(20);
  const unsigned bits = pick(1u, 8u);
  bytes.push_back(static_cast<std::uint8_t>(static_cast<std::uint8_t>(pick(0, 256)) << (8 - bits)));
  return *core::make_bitstring(heap, bytes, bytes.size() - 1, bits);
}

Term any_char_list(core::Heap& heap, int lo, int hi, std::size_t max_length) {
  std::vector<Term> chars(pick<std::size_t>(0, max_length + 1));
  for (Term& c : chars) c = core::make_small(pick(lo, hi));
  return core::make_list(heap, chars);
}

Term any_list(core::Heap& heap, std::size_t max_length) {
  std::vector<Term> elements(pick<std::size_t>(0, max_length + 1));
  for (Term& e : elements) e = any_term(heap, testing::TermGenOptions{.max_depth = 2});
  return core::make_list(heap, elements);
}

Term any_map(core::Heap& heap, std::size_t max_size) {
  const auto n = pick<std::size_t>(0, max_size + 1);
  std::vector<Term> keys, values;
  for (std::size_t i = 0; i < n; ++i) {
    Term k;
    switch (pick(0, 3)) {
      case 0:
        k = core::make_small(pick(-50, 50));
        break;
      case 1:
        k = any_atom(heap);
        break;
      default:
        k = any_term(heap, testing::TermGenOptions{.max_depth = 1});
    }
    if (std::any_of(keys.begin(), keys.end(), [&](Term o) { return core::identical(o, k); }))
      continue;
    keys.push_back(k);
    values.push_back(any_term(heap, testing::TermGenOptions{.max_depth = 1}));
  }
  return *core::make_map(heap, keys, values);
}

}  // namespace nifhost::proptests
