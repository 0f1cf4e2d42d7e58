// The BEAM's term hashes: erlang:phash2/1 (make_hash2) and the internal hash
// (make_internal_hash), written after OTP 25's utils.c and checked against a
// live `erl` (see tests/hash_test.cpp for the known answers).
//
// Both walk the term with an explicit stack, so list length and nesting depth
// are limited only by memory.
#include "nifhost/core/hash.hpp"

#include <bit>
#include <cassert>
#include <cstring>
#include <memory>
#include <vector>

#include "fun_etf.hpp"
#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/order.hpp"
#include "nifhost/core/terms.hpp"

namespace nifhost::core {
namespace {

// Bob Jenkins' mix, as the BEAM uses it.
inline void mix(std::uint32_t& a, std::uint32_t& b, std::uint32_t& c) {
  a -= b;
  a -= c;
  a ^= (c >> 13);
  b -= c;
  b -= a;
  b ^= (a << 8);
  c -= a;
  c -= b;
  c ^= (b >> 13);
  a -= b;
  a -= c;
  a ^= (c >> 12);
  b -= c;
  b -= a;
  b ^= (a << 16);
  c -= a;
  c -= b;
  c ^= (b >> 5);
  a -= b;
  a -= c;
  a ^= (c >> 3);
  b -= c;
  b -= a;
  b ^= (a << 10);
  c -= a;
  c -= b;
  c ^= (b >> 15);
}

constexpr std::uint32_t kHConst = 0x9e3779b9u;  // HCONST * n mod 2^32 below
constexpr std::uint32_t kHConst2 = 0x3c6ef372u;
constexpr std::uint32_t kHConst3 = 0xdaa66d2bu;
constexpr std::uint32_t kHConst4 = 0x78dde6e4u;
constexpr std::uint32_t kHConst5 = 0x1715609du;
constexpr std::uint32_t kHConst6 = 0xb54cda56u;
constexpr std::uint32_t kHConst7 = 0x5384540fu;
constexpr std::uint32_t kHConst8 = 0xf1bbcdc8u;
constexpr std::uint32_t kHConst9 = 0x8ff34781u;
constexpr std::uint32_t kHConst10 = 0x2e2ac13au;
constexpr std::uint32_t kHConst11 = 0xcc623af3u;
constexpr std::uint32_t kHConst12 = 0x6a99b4acu;
constexpr std::uint32_t kHConst13 = 0x08d12e65u;
constexpr std::uint32_t kHConst14 = 0xa708a81eu;
constexpr std::uint32_t kHConst15 = 0x454021d7u;
constexpr std::uint32_t kHConst16 = 0xe3779b90u;
constexpr std::uint32_t kHConst17 = 0x81af1549u;
constexpr std::uint32_t kHConst18 = 0x1fe68f02u;
constexpr std::uint32_t kHConst19 = 0xbe1e08bbu;
constexpr std::uint32_t kHConst20 = 0x5c558274u;
constexpr std::uint32_t kHConst21 = 0xfa8cfc2du;
constexpr std::uint32_t kHConst22 = 0x98c475e6u;
// make_internal_hash starts from salt ^ this, so that it never equals phash2.
constexpr std::uint32_t kInternalHashSalt = 3432918353u;
// NIL_DEF in the BEAM's tag_val_def numbering.
constexpr std::uint32_t kNilDef = 2;

inline void hash2(std::uint32_t& hash, std::uint32_t x, std::uint32_t y, std::uint32_t k) {
  std::uint32_t a = k + x;
  std::uint32_t b = k + y;
  mix(a, b, hash);
}
inline void hash1(std::uint32_t& hash, std::uint32_t x, std::uint32_t k) { hash2(hash, x, 0, k); }

std::uint32_t lo32(std::uint64_t v) { return static_cast<std::uint32_t>(v); }
std::uint32_t hi32(std::uint64_t v) { return static_cast<std::uint32_t>(v >> 32); }

// Jenkins' one-at-a-time block hash (block_hash in the BEAM).
std::uint32_t block_hash(const std::uint8_t* k, std::size_t length, std::uint32_t initval) {
  std::uint32_t a = kHConst, b = kHConst, c = initval;
  std::size_t len = length;
  auto word = [](const std::uint8_t* p) {
    return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
           (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
  };
  while (len >= 12) {
    a += word(k);
    b += word(k + 4);
    c += word(k + 8);
    mix(a, b, c);
    k += 12;
    len -= 12;
  }
  // The BEAM adds the length as a 32-bit value (binaries over 4 GiB wrap).
  c += static_cast<std::uint32_t>(length);
  switch (len) {
    case 11:
      c += static_cast<std::uint32_t>(k[10]) << 24;
      [[fallthrough]];
    case 10:
      c += static_cast<std::uint32_t>(k[9]) << 16;
      [[fallthrough]];
    case 9:
      c += static_cast<std::uint32_t>(k[8]) << 8;
      [[fallthrough]];
    case 8:
      b += static_cast<std::uint32_t>(k[7]) << 24;
      [[fallthrough]];
    case 7:
      b += static_cast<std::uint32_t>(k[6]) << 16;
      [[fallthrough]];
    case 6:
      b += static_cast<std::uint32_t>(k[5]) << 8;
      [[fallthrough]];
    case 5:
      b += k[4];
      [[fallthrough]];
    case 4:
      a += static_cast<std::uint32_t>(k[3]) << 24;
      [[fallthrough]];
    case 3:
      a += static_cast<std::uint32_t>(k[2]) << 16;
      [[fallthrough]];
    case 2:
      a += static_cast<std::uint32_t>(k[1]) << 8;
      [[fallthrough]];
    case 1:
      a += k[0];
      break;
    default:
      break;
  }
  mix(a, b, c);
  return c;
}

// hashpjw over the UTF-8 text, with the BEAM's "latin-1 clutch": a two-byte
// sequence for U+0080..U+00FF counts as that one latin-1 byte. This is the
// atom's hash value in the BEAM's atom table and cannot change: phash2
// depends on it.
std::uint32_t pjw(std::string_view s) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(s.data());
  std::size_t len = s.size();
  std::uint32_t h = 0;
  while (len--) {
    std::uint8_t v = *p++;
    if (len && (v & 0xFE) == 0xC2 && (*p & 0xC0) == 0x80) {
      v = static_cast<std::uint8_t>((v << 6) | (*p & 0x3F));
      ++p;
      --len;
    }
    h = (h << 4) + v;
    if (std::uint32_t g = h & 0xf0000000u) {
      h ^= (g >> 24);
      h ^= g;
    }
  }
  return h;
}

// Both hashes treat a bitstring the same way.
void hash_bitstring(std::uint32_t& hash, Term t) {
  BitstringView v = bitstring_view(t);
  // The BEAM truncates the size to 32 bits here (compatibility with old releases).
  std::size_t sz = v.byte_size & 0xFFFFFFFFu;
  std::uint32_t con = kHConst13 + hash;
  if (sz == 0 && v.trailing_bits == 0) {
    hash = con;
    return;
  }
  hash = block_hash(v.data, sz, con);
  if (v.trailing_bits > 0) {
    // The trailing bits sit in the high end of the byte after the whole ones
    // (found, like the BEAM, at the truncated size).
    hash2(hash, v.trailing_bits, static_cast<std::uint32_t>(v.data[sz] >> (8 - v.trailing_bits)),
          kHConst15);
  }
}

void hash_bignum(std::uint32_t& hash, Term t) {
  std::uint32_t con = bignum_negative(t) ? kHConst10 : kHConst11;
  const std::uint64_t* d = bignum_digits(t);
  for (std::size_t i = 0; i < bignum_digit_count(t); ++i) hash2(hash, lo32(d[i]), hi32(d[i]), con);
}

// A small outside the signed 28-bit range hashes as the one-digit bignum it
// would be on a 32-bit machine, so phash2 is the same on every platform.
bool fits_28(std::int64_t x) {
  return x >= -(std::int64_t{1} << 27) && x < (std::int64_t{1} << 27);
}

void hash_small(std::uint32_t& hash, std::int64_t x) {
  if (!fits_28(x)) {
    std::uint64_t mag = x < 0 ? 0 - static_cast<std::uint64_t>(x) : static_cast<std::uint64_t>(x);
    hash2(hash, lo32(mag), hi32(mag), x < 0 ? kHConst10 : kHConst11);
    return;
  }
  auto y = static_cast<std::int32_t>(x);
  // Negative numbers are mixed twice, as in the BEAM.
  if (y < 0) hash1(hash, static_cast<std::uint32_t>(-y), kHConst);
  hash1(hash, static_cast<std::uint32_t>(y), kHConst);
}

std::uint64_t float_bits(Term t) {
  double d = float_value(t);
  if (d == 0.0) d = 0.0;  // -0.0 hashes as 0.0
  return std::bit_cast<std::uint64_t>(d);
}

// The number words a reference term hashes by: a resource's are those of
// the reference the ETF encoder makes of it; a remote handle, which has
// none, gets words spread from its identity.
RefView ref_words(Term t) {
  switch (box_subtag(t)) {
    case Subtag::kRef:
      return ref_view(t);
    case Subtag::kResource: {
      RefView r{atoms::kNonode, kLocalCreation, 3, {}};
      detail::resource_ref_words(t, r.id);
      return r;
    }
    default: {
      const RemoteResource* h = handle_object(t);
      std::uint32_t w = 0;
      hash2(w, lo32(h->domain()), hi32(h->domain()), kHConst7);
      hash2(w, lo32(h->generation()), hi32(h->generation()), kHConst7);
      hash2(w, lo32(h->id()), hi32(h->id()), kHConst7);
      hash2(w, lo32(h->type_tag()), hi32(h->type_tag()), kHConst7);
      return RefView{atoms::kNonode, kLocalCreation, 1, {w}};
    }
  }
}

// ---------------------------------------------------------------- phash2
// Work items: a term to hash, or a map marker.
struct Item {
  enum Kind : std::uint8_t { kTerm, kMapPair, kMapTail } kind;
  Term term;                 // kTerm
  std::uint32_t saved_hash;  // kMapTail
  std::uint32_t saved_xor;   // kMapTail
};

class Hash2 {
 public:
  std::uint32_t run(Term term);

 private:
  void push(Term t) { stack_.push_back({Item::kTerm, t, 0, 0}); }
  Heap& scratch() {
    if (!scratch_) scratch_ = std::make_unique<Heap>(64);
    return *scratch_;
  }
  std::vector<Item> stack_;
  std::unique_ptr<Heap> scratch_;  // decoded free variables of funs
};

std::uint32_t Hash2::run(Term term) {
  // The BEAM returns these unmixed when they are the whole term.
  if (is_atom(term)) return atom_text_hash(term);
  std::uint32_t hash = 0;
  std::uint32_t hash_xor_pairs = 0;
  if (is_small(term)) {
    hash_small(hash, small_value(term));
    return hash;
  }
  for (;;) {
    bool done_term = true;  // false when `term` was replaced by a sub-term to hash next
    switch (primary_tag(term)) {
      case tag::kList: {
        // Runs of bytes (strings) are hashed four at a time.
        int c = 0;
        std::uint32_t sh = 0;
        Term cell = term;
        while (is_small(cons_head(cell)) && small_value(cons_head(cell)) >= 0 &&
               small_value(cons_head(cell)) <= 255) {
          sh = (sh << 8) + static_cast<std::uint32_t>(small_value(cons_head(cell)));
          if (c == 3) {
            hash1(hash, sh, kHConst4);
            c = 0;
            sh = 0;
          } else {
            ++c;
          }
          term = cons_tail(cell);
          if (!is_cons(term)) break;
          cell = term;
        }
        if (c > 0) hash1(hash, sh, kHConst4);
        if (is_cons(term)) {
          push(cons_tail(cell));
          term = cons_head(cell);
        }
        done_term = false;
        break;
      }
      case tag::kBoxed:
        switch (box_subtag(term)) {
          case Subtag::kTuple: {
            std::size_t arity = tuple_arity(term);
            hash1(hash, static_cast<std::uint32_t>(arity), kHConst9);
            if (arity == 0) break;
            const Term* e = tuple_elements(term);
            for (std::size_t i = arity; i > 1; --i) push(e[i - 1]);
            term = e[0];
            done_term = false;
            break;
          }
          case Subtag::kMap: {
            std::size_t size = map_size(term);
            hash1(hash, static_cast<std::uint32_t>(size), kHConst16);
            if (size == 0) break;
            // Pairs are hashed from zero and xor-ed together, so the result
            // does not depend on the iteration order.
            stack_.push_back({Item::kMapTail, 0, hash, hash_xor_pairs});
            hash = 0;
            hash_xor_pairs = 0;
            const Term* k = map_keys(term);
            const Term* v = map_values(term);
            for (std::size_t i = size; i-- > 0;) {
              stack_.push_back({Item::kMapPair, 0, 0, 0});
              push(v[i]);
              push(k[i]);
            }
            break;
          }
          case Subtag::kFun: {
            // Funs are opaque ETF: hash the fields the BEAM hashes, then the
            // free variables (decoded; as bytes if they do not decode).
            detail::FunInfo f = detail::parse_fun(fun_bytes(term));
            if (!f.valid) {
              auto b = fun_bytes(term);
              hash = block_hash(b.data(), b.size(), hash);
            } else if (f.is_export) {
              hash2(hash, f.arity, pjw(f.module), kHConst);
              hash1(hash, pjw(f.function), kHConst14);
            } else {
              hash2(hash, f.num_free, pjw(f.module), kHConst);
              hash2(hash, static_cast<std::uint32_t>(f.old_index),
                    static_cast<std::uint32_t>(f.old_uniq), kHConst);
              if (f.num_free > 0) {
                auto env = detail::decode_free_vars(f, scratch());
                if (!env) {
                  hash = block_hash(f.free_vars.data(), f.free_vars.size(), hash);
                } else {
                  for (std::size_t i = env->size(); i > 1; --i) push((*env)[i - 1]);
                  term = (*env)[0];
                  done_term = false;
                }
              }
            }
            break;
          }
          case Subtag::kBinary:
            hash_bitstring(hash, term);
            break;
          case Subtag::kPosBig:
          case Subtag::kNegBig:
            hash_bignum(hash, term);
            break;
          case Subtag::kRef:
          case Subtag::kResource:
          case Subtag::kHandle:
            // Only the first number word, as in the BEAM.
            hash1(hash, ref_words(term).id[0], kHConst7);
            break;
          case Subtag::kExtPid:
            hash1(hash, pid_view(term).id, kHConst5);
            break;
          case Subtag::kExtPort: {
            std::uint64_t n = port_view(term).id;
            hash2(hash, lo32(n), hi32(n), kHConst6);
            break;
          }
          case Subtag::kFloat: {
            std::uint64_t bits = float_bits(term);
            hash2(hash, hi32(bits), lo32(bits), kHConst12);
            break;
          }
        }
        break;
      default:  // immediates
        if (is_small(term)) {
          hash_small(hash, small_value(term));
        } else if (is_atom(term)) {
          if (hash == 0) {
            hash = atom_text_hash(term);
          } else {
            hash1(hash, atom_text_hash(term), kHConst3);
          }
        } else if (is_nil(term)) {
          if (hash == 0) {
            hash = 3468870702u;
          } else {
            hash1(hash, kNilDef, kHConst2);
          }
        } else if (is_local_pid(term)) {
          hash1(hash, local_pid_id(term), kHConst5);
        } else {
          assert(is_local_port(term));
          std::uint64_t n = local_port_number(term);
          hash2(hash, lo32(n), hi32(n), kHConst6);
        }
        break;
    }
    if (!done_term) continue;
    // Next item.
    for (;;) {
      if (stack_.empty()) return hash;
      Item it = stack_.back();
      stack_.pop_back();
      if (it.kind == Item::kTerm) {
        term = it.term;
        break;
      }
      if (it.kind == Item::kMapPair) {
        hash_xor_pairs ^= hash;
        hash = 0;
      } else {
        hash = it.saved_hash;
        hash1(hash, hash_xor_pairs, kHConst19);
        hash_xor_pairs = it.saved_xor;
      }
    }
  }
}

// ---------------------------------------------------------------- internal hash
// CONST_HASH: light mixing of a constant (type information).
inline void const_hash(std::uint32_t& hash, std::uint32_t k) {
  hash ^= k;
  hash = (hash << 17) ^ (hash >> 15);
}

// A marker that cannot be a term on our heaps (a header word).
constexpr Term kHashCdrMarker = make_header(Subtag::kRef, 3);

std::uint32_t internal_hash32(Term term, std::uint32_t salt) {
  std::uint32_t hash = salt ^ kInternalHashSalt;
  std::vector<Term> stack;
  std::unique_ptr<Heap> scratch;  // decoded free variables of funs
  for (;;) {
    bool pop = true;
    switch (primary_tag(term)) {
      case tag::kList: {
        int c = 0;
        std::uint32_t sh = 0;
        Term cell = term;
        while (is_small(cons_head(cell)) && small_value(cons_head(cell)) >= 0 &&
               small_value(cons_head(cell)) <= 255) {
          sh = (sh << 8) + static_cast<std::uint32_t>(small_value(cons_head(cell)));
          if (c == 3) {
            hash1(hash, sh, kHConst4);
            c = 0;
            sh = 0;
          } else {
            ++c;
          }
          term = cons_tail(cell);
          if (!is_cons(term)) break;
          cell = term;
        }
        if (c > 0) hash2(hash, sh, static_cast<std::uint32_t>(c), kHConst22);
        if (is_cons(term)) {
          Term tail = cons_tail(cell);
          const_hash(hash, kHConst17);  // the head of a cons cell
          stack.push_back(tail);
          if (!is_cons(tail)) stack.push_back(kHashCdrMarker);
          term = cons_head(cell);
        }
        pop = false;
        break;
      }
      case tag::kBoxed:
        switch (box_subtag(term)) {
          case Subtag::kTuple: {
            std::size_t arity = tuple_arity(term);
            hash1(hash, static_cast<std::uint32_t>(arity), kHConst9);
            if (arity == 0) break;
            const Term* e = tuple_elements(term);
            for (std::size_t i = arity; i > 1; --i) stack.push_back(e[i - 1]);
            term = e[0];
            pop = false;
            break;
          }
          case Subtag::kMap: {
            // Flatmaps as the BEAM does; larger maps in our iteration order
            // (the BEAM walks its HAMT nodes, which we do not keep).
            std::size_t size = map_size(term);
            hash1(hash, static_cast<std::uint32_t>(size), kHConst16);
            const Term* k = map_keys(term);
            const Term* v = map_values(term);
            for (std::size_t i = size; i-- > 0;) {
              stack.push_back(v[i]);
              stack.push_back(k[i]);
            }
            break;
          }
          case Subtag::kFun: {
            detail::FunInfo f = detail::parse_fun(fun_bytes(term));
            if (!f.valid) {
              auto b = fun_bytes(term);
              hash = block_hash(b.data(), b.size(), hash);
            } else if (f.is_export) {
              // The BEAM hashes the export entry's address; we hash its name.
              hash2(hash, pjw(f.module), pjw(f.function), kHConst14);
              hash1(hash, f.arity, kHConst14);
            } else {
              hash2(hash, f.num_free, pjw(f.module), kHConst20);
              hash2(hash, static_cast<std::uint32_t>(f.old_index),
                    static_cast<std::uint32_t>(f.old_uniq), kHConst21);
              if (f.num_free > 0) {
                if (!scratch) scratch = std::make_unique<Heap>(64);
                auto env = detail::decode_free_vars(f, *scratch);
                if (!env) {
                  hash = block_hash(f.free_vars.data(), f.free_vars.size(), hash);
                } else {
                  for (std::size_t i = env->size(); i > 1; --i) stack.push_back((*env)[i - 1]);
                  term = (*env)[0];
                  pop = false;
                }
              }
            }
            break;
          }
          case Subtag::kBinary:
            hash_bitstring(hash, term);
            break;
          case Subtag::kPosBig:
          case Subtag::kNegBig:
            hash_bignum(hash, term);
            break;
          case Subtag::kRef:
          case Subtag::kResource:
          case Subtag::kHandle: {
            RefView r = ref_words(term);
            hash1(hash, r.id[0], kHConst7);
            hash2(hash, r.count > 1 ? r.id[1] : 0, r.count > 2 ? r.id[2] : 0, kHConst8);
            if (r.count > 3) hash2(hash, r.id[3], r.count > 4 ? r.id[4] : 0, kHConst9);
            if (r.node != atoms::kNonode || r.creation != 0) {
              hash2(hash, pjw(atom_text(r.node)), r.creation, kHConst7);
            }
            break;
          }
          case Subtag::kExtPid: {
            PidView p = pid_view(term);
            hash2(hash, pjw(atom_text(p.node)), p.creation, kHConst5);
            hash2(hash, p.id, p.serial, kHConst5);
            break;
          }
          case Subtag::kExtPort: {
            PortView p = port_view(term);
            hash2(hash, pjw(atom_text(p.node)), p.creation, kHConst6);
            hash2(hash, lo32(p.id), hi32(p.id), kHConst6);
            break;
          }
          case Subtag::kFloat: {
            std::uint64_t bits = float_bits(term);
            hash2(hash, lo32(bits), hi32(bits), kHConst12);
            break;
          }
        }
        break;
      default:
        // Immediates hash their whole word. Small integers and [] have the
        // BEAM's own encoding, so they hash as in the BEAM.
        hash2(hash, lo32(term), hi32(term), kHConst);
        break;
    }
    if (!pop) continue;
    for (;;) {
      if (stack.empty()) return hash;
      term = stack.back();
      stack.pop_back();
      if (term != kHashCdrMarker) break;
      const_hash(hash, kHConst18);  // the tail of a cons cell
    }
  }
}

}  // namespace

std::uint32_t atom_text_hash(Term atom) { return pjw(atom_text(atom)); }

std::uint32_t phash2_full(Term t) {
  Hash2 h;
  return h.run(t);
}

std::uint64_t internal_hash(Term t, std::uint64_t salt) {
  return internal_hash32(t, static_cast<std::uint32_t>(salt));
}

std::uint32_t map_key_hash(Term key, unsigned depth) {
  // Past the 32 bits of the first hash, the HAMT rehashes with the depth
  // mixed into the salt (make_map_hash in the BEAM).
  std::uint32_t salt = 0;
  if (depth > 0) hash2(salt, depth, 1, kHConst22);
  return internal_hash32(key, salt);
}

}  // namespace nifhost::core
