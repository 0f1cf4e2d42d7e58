// Erlang term order (erts_cmp in the BEAM's utils.c), =:= and map key order.
#include "nifhost/core/order.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>
#include <memory>
#include <numeric>
#include <string_view>
#include <vector>

#include "fun_etf.hpp"
#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/hash.hpp"
#include "nifhost/core/terms.hpp"

namespace nifhost::core {
namespace {

template <typename T>
int cmp3(T a, T b) {
  return (a > b) - (a < b);
}

// Rank of each kind in the term order (integers and floats share a rank).
int rank(Kind k) {
  switch (k) {
    case Kind::kInteger:
    case Kind::kFloat:
      return 0;
    case Kind::kAtom:
      return 1;
    case Kind::kReference:
      return 2;
    case Kind::kFun:
      return 3;
    case Kind::kPort:
      return 4;
    case Kind::kPid:
      return 5;
    case Kind::kTuple:
      return 6;
    case Kind::kMap:
      return 7;
    case Kind::kNil:
      return 8;
    case Kind::kList:
      return 9;
    case Kind::kBitstring:
      return 10;
  }
  return 11;
}

// ---------------------------------------------------------------- numbers
// An integer as sign and little-endian magnitude digits (a small's one digit
// is stored in the view itself).
struct IntView {
  explicit IntView(Term t) {
    if (is_small(t)) {
      std::int64_t x = small_value(t);
      negative = x < 0;
      small_mag = x < 0 ? 0 - static_cast<std::uint64_t>(x) : static_cast<std::uint64_t>(x);
      n = x == 0 ? 0 : 1;
      digits = &small_mag;
    } else {
      negative = bignum_negative(t);
      digits = bignum_digits(t);
      n = bignum_digit_count(t);
    }
  }
  IntView(const IntView&) = delete;
  IntView& operator=(const IntView&) = delete;
  bool negative;
  const std::uint64_t* digits;
  std::size_t n;  // 0 for zero
  std::uint64_t small_mag = 0;
};

int cmp_magnitudes(const std::uint64_t* a, std::size_t an, const std::uint64_t* b, std::size_t bn) {
  if (an != bn) return an < bn ? -1 : 1;
  for (std::size_t i = an; i-- > 0;) {
    if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
  }
  return 0;
}

int cmp_integers(Term a, Term b) {
  if (is_small(a) && is_small(b)) return cmp3(small_value(a), small_value(b));
  IntView x(a);
  IntView y(b);
  if (x.negative != y.negative) return x.negative ? -1 : 1;
  int m = cmp_magnitudes(x.digits, x.n, y.digits, y.n);
  return x.negative ? -m : m;
}

// Exact sign of (integer - float). The BEAM gets the same answers by
// converting the float to a bignum when it is outside the small range.
int cmp_integer_float(Term i, double f) {
  IntView x(i);
  if (f == 0.0) return x.n == 0 ? 0 : (x.negative ? -1 : 1);
  bool fneg = f < 0;
  if (x.n == 0) return fneg ? 1 : -1;
  if (x.negative != fneg) return x.negative ? -1 : 1;
  // Same sign: compare |i| with |f| = m * 2^e, m < 2^53.
  int ex = 0;
  double fr = std::frexp(std::fabs(f), &ex);
  auto m = static_cast<std::uint64_t>(std::ldexp(fr, 53));
  int e = ex - 53;
  int mag;
  if (e >= 0) {
    // |f| is the integer m << e.
    std::size_t shift_digits = static_cast<std::size_t>(e) / 64;
    unsigned shift_bits = static_cast<unsigned>(e) % 64;
    std::vector<std::uint64_t> fd(shift_digits + 2, 0);
    fd[shift_digits] = m << shift_bits;
    fd[shift_digits + 1] = shift_bits ? m >> (64 - shift_bits) : 0;
    std::size_t fn = fd.size();
    while (fn > 0 && fd[fn - 1] == 0) --fn;
    mag = cmp_magnitudes(x.digits, x.n, fd.data(), fn);
  } else {
    unsigned s = static_cast<unsigned>(-e);
    std::uint64_t whole = s >= 64 ? 0 : m >> s;
    bool frac = s >= 64 ? m != 0 : (m & ((std::uint64_t{1} << s) - 1)) != 0;
    std::size_t wn = whole ? 1 : 0;
    mag = cmp_magnitudes(x.digits, x.n, &whole, wn);
    if (mag == 0 && frac) mag = -1;
  }
  return x.negative ? -mag : mag;
}

int cmp_floats(double a, double b) {
  // 0.0 == -0.0 under both == and the BEAM's (OTP 25) =:=.
  return (a > b) - (a < b);
}

// ---------------------------------------------------------------- atoms
int cmp_atoms(Term a, Term b) {
  if (a == b) return 0;
  // Atom texts are UTF-8; byte order is code point order.
  std::string_view x = atom_text(a);
  std::string_view y = atom_text(b);
  std::size_t n = std::min(x.size(), y.size());
  int c = n ? std::memcmp(x.data(), y.data(), n) : 0;
  if (c != 0) return c < 0 ? -1 : 1;
  return cmp3(x.size(), y.size());
}

// ---------------------------------------------------------------- bitstrings
int cmp_bitstrings(Term a, Term b) {
  BitstringView x = bitstring_view(a);
  BitstringView y = bitstring_view(b);
  std::size_t nb = std::min(x.byte_size, y.byte_size);
  int c = nb ? std::memcmp(x.data, y.data, nb) : 0;
  if (c != 0) return c < 0 ? -1 : 1;
  // Equal on the common whole bytes; compare the common bits that follow.
  // Trailing bits sit in the high-order end of the final byte.
  std::size_t abits = x.bit_size() - nb * 8;
  std::size_t bbits = y.bit_size() - nb * 8;
  std::size_t common = std::min(abits, bbits);
  if (common > 0) {
    // At most 7 bits (one side has no more whole bytes).
    auto mask = static_cast<std::uint8_t>(0xFF00u >> common);
    unsigned xa = x.data[nb] & mask;
    unsigned ya = y.data[nb] & mask;
    if (xa != ya) return xa < ya ? -1 : 1;
  }
  return cmp3(x.bit_size(), y.bit_size());
}

// ---------------------------------------------------------------- identifiers
// The BEAM compares node names, then creations (CMP_NODES).
int cmp_nodes(Term an, std::uint32_t ac, Term bn, std::uint32_t bc) {
  if (an != bn) {
    int c = cmp_atoms(an, bn);
    if (c != 0) return c;
  }
  return cmp3(ac, bc);
}

// Pids: serial, then number, then node (`<0.6.0>` < `<0.5.1>`).
int cmp_pids(Term a, Term b) {
  if (is_local_pid(a) && is_local_pid(b)) {
    if (local_pid_serial(a) != local_pid_serial(b))
      return cmp3(local_pid_serial(a), local_pid_serial(b));
    return cmp3(local_pid_id(a), local_pid_id(b));
  }
  PidView x = pid_view(a);
  PidView y = pid_view(b);
  if (x.serial != y.serial) return cmp3(x.serial, y.serial);
  if (x.id != y.id) return cmp3(x.id, y.id);
  return cmp_nodes(x.node, x.creation, y.node, y.creation);
}

// Ports: node first, then number.
int cmp_ports(Term a, Term b) {
  PortView x = port_view(a);
  PortView y = port_view(b);
  int c = cmp_nodes(x.node, x.creation, y.node, y.creation);
  if (c != 0) return c;
  return cmp3(x.id, y.id);
}

// References: node, then the number words from the most significant, a
// shorter one extended with zeros (#Ref<0.0.5> == #Ref<0.5>). A resource is
// the local reference the ETF encoder turns it into (as in the BEAM, where a
// resource term is a reference), so it orders as it will in the BEAM. Remote
// handles have no reference numbers: they come after every other reference
// of this node, ordered by their identity.
RefView ref_numbers(Term t) {
  if (box_subtag(t) == Subtag::kRef) return ref_view(t);
  RefView r{atoms::kNonode, kLocalCreation, 3, {}};
  detail::resource_ref_words(t, r.id);
  return r;
}

int cmp_handles(Term a, Term b) {
  const RemoteResource* p = handle_object(a);
  const RemoteResource* q = handle_object(b);
  if (p->domain() != q->domain()) return cmp3(p->domain(), q->domain());
  if (p->generation() != q->generation()) return cmp3(p->generation(), q->generation());
  if (p->id() != q->id()) return cmp3(p->id(), q->id());
  return cmp3(p->type_tag(), q->type_tag());
}

int cmp_refs(Term a, Term b) {
  bool ha = box_subtag(a) == Subtag::kHandle;
  bool hb = box_subtag(b) == Subtag::kHandle;
  if (ha && hb) return cmp_handles(a, b);
  RefView x{atoms::kNonode, kLocalCreation, 0, {}}, y = x;
  if (!ha) x = ref_numbers(a);
  if (!hb) y = ref_numbers(b);
  int c = cmp_nodes(x.node, x.creation, y.node, y.creation);
  if (c != 0) return c;
  if (ha != hb) return ha ? 1 : -1;
  std::size_t n = std::max(x.count, y.count);
  for (std::size_t i = n; i-- > 0;) {
    std::uint32_t xi = i < x.count ? x.id[i] : 0;
    std::uint32_t yi = i < y.count ? y.id[i] : 0;
    if (xi != yi) return cmp3(xi, yi);
  }
  return 0;
}

int cmp_bytes(std::span<const std::uint8_t> x, std::span<const std::uint8_t> y) {
  std::size_t n = std::min(x.size(), y.size());
  int c = n ? std::memcmp(x.data(), y.data(), n) : 0;
  if (c != 0) return c < 0 ? -1 : 1;
  return cmp3(x.size(), y.size());
}

int cmp_text(std::string_view x, std::string_view y) {
  return cmp_bytes({reinterpret_cast<const std::uint8_t*>(x.data()), x.size()},
                   {reinterpret_cast<const std::uint8_t*>(y.data()), y.size()});
}

// Funs, from their ETF: local funs before export funs; export funs by module,
// function and arity; local funs by module, old index, old uniq, number of
// free variables and then the free variables, as the BEAM does. Returns the
// order, or 0 with the two environments to compare in env_a/env_b.
int cmp_funs(Term a, Term b, Heap& heap, std::vector<Term>& env_a, std::vector<Term>& env_b) {
  env_a.clear();
  env_b.clear();
  detail::FunInfo x = detail::parse_fun(fun_bytes(a));
  detail::FunInfo y = detail::parse_fun(fun_bytes(b));
  if (!x.valid || !y.valid) {
    if (x.valid != y.valid) return x.valid ? -1 : 1;
    return cmp_bytes(fun_bytes(a), fun_bytes(b));
  }
  if (x.is_export != y.is_export) return x.is_export ? 1 : -1;
  int c = cmp_text(x.module, y.module);
  if (c != 0) return c;
  if (x.is_export) {
    c = cmp_text(x.function, y.function);
    if (c != 0) return c;
    return cmp3(x.arity, y.arity);
  }
  if (x.old_index != y.old_index) return cmp3(x.old_index, y.old_index);
  if (x.old_uniq != y.old_uniq) return cmp3(x.old_uniq, y.old_uniq);
  if (x.num_free != y.num_free) return cmp3(x.num_free, y.num_free);
  if (x.num_free == 0) return 0;
  auto ea = detail::decode_free_vars(x, heap);
  auto eb = detail::decode_free_vars(y, heap);
  if (!ea || !eb) return cmp_bytes(x.free_vars, y.free_vars);
  env_a = std::move(*ea);
  env_b = std::move(*eb);
  return 0;
}

// ---------------------------------------------------------------- the walk
// Pending element pairs: compare a[i] with b[i] for the n left, in `exact`
// mode (map key mode) or not. The walk never recurses, so list length and
// nesting depth are limited only by memory.
struct Frame {
  const Term* a;
  const Term* b;
  std::size_t n;
  bool exact;
};

class Walker {
 public:
  int run(Term a, Term b, bool exact);

 private:
  // Keys and values of a hashmap in map key order (kept alive for the walk).
  const Term* sorted_entries(Term map);
  // A copy of terms that lives as long as the walk.
  const Term* keep(const std::vector<Term>& terms);
  Heap& scratch_heap() {
    if (!heap_) heap_ = std::make_unique<Heap>(64);
    return *heap_;
  }
  std::vector<Frame> stack_;
  std::vector<std::unique_ptr<Term[]>> scratch_;
  std::unique_ptr<Heap> heap_;  // decoded free variables of funs
};

const Term* Walker::sorted_entries(Term map) {
  std::size_t n = map_size(map);
  std::vector<std::size_t> idx(n);
  std::iota(idx.begin(), idx.end(), std::size_t{0});
  const Term* k = map_keys(map);
  const Term* v = map_values(map);
  std::sort(idx.begin(), idx.end(),
            [k](std::size_t i, std::size_t j) { return compare_map_keys(k[i], k[j]) < 0; });
  auto out = std::make_unique<Term[]>(2 * n);
  for (std::size_t i = 0; i < n; ++i) {
    out[i] = k[idx[i]];
    out[n + i] = v[idx[i]];
  }
  scratch_.push_back(std::move(out));
  return scratch_.back().get();
}

const Term* Walker::keep(const std::vector<Term>& terms) {
  auto out = std::make_unique<Term[]>(terms.size());
  std::copy(terms.begin(), terms.end(), out.get());
  scratch_.push_back(std::move(out));
  return scratch_.back().get();
}

int Walker::run(Term a, Term b, bool exact) {
  for (;;) {
    // Walk two list spines without the stack while their heads are the same
    // words, so long equal prefixes cost one step per cell.
    while (is_cons(a) && is_cons(b)) {
      Term ha = cons_head(a);
      Term hb = cons_head(b);
      if (ha != hb) {
        if (is_small(ha) && is_small(hb)) return cmp3(small_value(ha), small_value(hb));
        stack_.push_back({cons_ptr(a) + 1, cons_ptr(b) + 1, 1, exact});  // the tails, next
        a = ha;
        b = hb;
        break;
      }
      a = cons_tail(a);
      b = cons_tail(b);
    }
    if (a != b && is_small(a) && is_small(b)) return cmp3(small_value(a), small_value(b));
    if (a != b && is_atom(a) && is_atom(b)) {
      int c = cmp_atoms(a, b);
      if (c != 0) return c;
    } else if (a != b) {
      Kind ka = kind_of(a);
      Kind kb = kind_of(b);
      int c = 0;
      if (ka != kb) {
        if (ka == Kind::kInteger && kb == Kind::kFloat) {
          c = exact ? -1 : cmp_integer_float(a, float_value(b));
        } else if (ka == Kind::kFloat && kb == Kind::kInteger) {
          c = exact ? 1 : -cmp_integer_float(b, float_value(a));
        } else {
          c = cmp3(rank(ka), rank(kb));
        }
        if (c != 0) return c;
      } else {
        switch (ka) {
          case Kind::kInteger:
            c = cmp_integers(a, b);
            break;
          case Kind::kFloat:
            c = cmp_floats(float_value(a), float_value(b));
            break;
          case Kind::kAtom:
            c = cmp_atoms(a, b);
            break;
          case Kind::kReference:
            c = cmp_refs(a, b);
            break;
          case Kind::kFun: {
            std::vector<Term> ea, eb;
            c = cmp_funs(a, b, scratch_heap(), ea, eb);
            if (c == 0 && !ea.empty()) {
              const Term* pa = keep(ea);
              const Term* pb = keep(eb);
              stack_.push_back({pa, pb, ea.size(), exact});
            }
            break;
          }
          case Kind::kPort:
            c = cmp_ports(a, b);
            break;
          case Kind::kPid:
            c = cmp_pids(a, b);
            break;
          case Kind::kNil:
            break;
          case Kind::kBitstring:
            c = cmp_bitstrings(a, b);
            break;
          case Kind::kTuple: {
            std::size_t n = tuple_arity(a);
            c = cmp3(n, tuple_arity(b));
            if (c == 0 && n > 0) stack_.push_back({tuple_elements(a), tuple_elements(b), n, exact});
            break;
          }
          case Kind::kList:
            // [head, tail]: the tail is the last pair, so a long list runs in
            // constant stack.
            stack_.push_back({cons_ptr(a), cons_ptr(b), 2, exact});
            break;
          case Kind::kMap: {
            std::size_t n = map_size(a);
            c = cmp3(n, map_size(b));
            if (c == 0 && n > 0) {
              // Keys in map key order (compared exactly), then the values in
              // that order (compared in the current mode).
              const Term* ea = n > kFlatmapLimit ? sorted_entries(a) : map_keys(a);
              const Term* eb = n > kFlatmapLimit ? sorted_entries(b) : map_keys(b);
              stack_.push_back({ea + n, eb + n, n, exact});
              stack_.push_back({ea, eb, n, true});
            }
            break;
          }
        }
        if (c != 0) return c;
      }
    }
    // Next pending pair.
    if (stack_.empty()) return 0;
    Frame& f = stack_.back();
    a = *f.a++;
    b = *f.b++;
    exact = f.exact;
    if (--f.n == 0) stack_.pop_back();
  }
}

// ---------------------------------------------------------------- HAMT order
// A map of more than kFlatmapLimit keys is a HAMT in the BEAM: each level
// takes the next 4 bits of the key's hash (low bits first), and maps:to_list/1
// and term_to_binary/1 visit each node's slots from the highest to the lowest.
// So the iteration order is: descending by the hash with its nibbles
// reversed; past 32 bits, the same with the next depth's hash.
std::uint32_t nibble_reverse(std::uint32_t h) {
  h = ((h & 0x0F0F0F0Fu) << 4) | ((h >> 4) & 0x0F0F0F0Fu);
  h = ((h & 0x00FF00FFu) << 8) | ((h >> 8) & 0x00FF00FFu);
  return (h << 16) | (h >> 16);
}

// Deeper hashes are only needed when 32 bits collide; identical keys collide
// at every depth, so stop somewhere (the tie-break below then decides).
constexpr unsigned kMaxHashDepth = 4;

struct HamtKey {
  Term key;
  std::uint32_t path0;  // nibble_reverse(map_key_hash(key, 0))
};

// <0 if a comes before b in iteration order, 0 if their hash paths agree.
int cmp_hamt_paths(const HamtKey& a, const HamtKey& b) {
  if (a.path0 != b.path0) return a.path0 > b.path0 ? -1 : 1;
  for (unsigned d = 1; d < kMaxHashDepth; ++d) {
    std::uint32_t x = nibble_reverse(map_key_hash(a.key, d));
    std::uint32_t y = nibble_reverse(map_key_hash(b.key, d));
    if (x != y) return x > y ? -1 : 1;
  }
  return 0;
}

HamtKey hamt_key(Term key) { return {key, nibble_reverse(map_key_hash(key, 0))}; }

void apply_permutation(std::span<Term> keys, std::span<Term> values,
                       const std::vector<std::size_t>& idx) {
  std::vector<Term> k(keys.size()), v(values.size());
  for (std::size_t i = 0; i < idx.size(); ++i) {
    k[i] = keys[idx[i]];
    v[i] = values[idx[i]];
  }
  std::copy(k.begin(), k.end(), keys.begin());
  std::copy(v.begin(), v.end(), values.begin());
}

}  // namespace

int compare(Term a, Term b) {
  if (a == b) return 0;
  if (is_small(a) && is_small(b)) return cmp3(small_value(a), small_value(b));
  Walker w;
  return w.run(a, b, false);
}

int compare_map_keys(Term a, Term b) {
  if (a == b) return 0;
  if (is_small(a) && is_small(b)) return cmp3(small_value(a), small_value(b));
  Walker w;
  return w.run(a, b, true);
}

bool identical(Term a, Term b) { return compare_map_keys(a, b) == 0; }

bool order_map_entries(std::span<Term> keys, std::span<Term> values) {
  assert(keys.size() == values.size());
  std::size_t n = keys.size();
  std::vector<std::size_t> idx(n);
  std::iota(idx.begin(), idx.end(), std::size_t{0});
  if (n <= kFlatmapLimit) {
    std::sort(idx.begin(), idx.end(),
              [&](std::size_t i, std::size_t j) { return compare_map_keys(keys[i], keys[j]) < 0; });
  } else {
    std::vector<HamtKey> hk(n);
    for (std::size_t i = 0; i < n; ++i) hk[i] = hamt_key(keys[i]);
    // Keys whose whole hash path agrees (identical ones, or collisions too
    // deep to matter) fall back to map key order, so the result is total.
    std::sort(idx.begin(), idx.end(), [&](std::size_t i, std::size_t j) {
      int c = cmp_hamt_paths(hk[i], hk[j]);
      if (c == 0) c = compare_map_keys(keys[i], keys[j]);
      return c < 0;
    });
  }
  // Identical keys are neighbours in either order.
  for (std::size_t i = 1; i < n; ++i) {
    if (identical(keys[idx[i - 1]], keys[idx[i]])) return false;
  }
  apply_permutation(keys, values, idx);
  return true;
}

std::optional<std::size_t> map_find_index(Term map, Term key) {
  std::size_t n = map_size(map);
  const Term* k = map_keys(map);
  if (n <= kFlatmapLimit) {
    // Flatmaps are sorted in map key order: binary search.
    std::size_t lo = 0, hi = n;
    while (lo < hi) {
      std::size_t mid = lo + (hi - lo) / 2;
      int c = compare_map_keys(k[mid], key);
      if (c == 0) return mid;
      if (c < 0) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return std::nullopt;
  }
  // HAMT order is sorted by hash path: binary search for the first entry
  // whose path is not before the key's, then check the entries sharing it.
  HamtKey target = hamt_key(key);
  std::size_t lo = 0, hi = n;
  while (lo < hi) {
    std::size_t mid = lo + (hi - lo) / 2;
    if (cmp_hamt_paths(hamt_key(k[mid]), target) < 0) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  for (std::size_t i = lo; i < n; ++i) {
    if (cmp_hamt_paths(hamt_key(k[i]), target) != 0) break;
    if (identical(k[i], key)) return i;
  }
  return std::nullopt;
}

}  // namespace nifhost::core
