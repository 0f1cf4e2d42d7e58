// ETF decoding: erlang:binary_to_term/1 of OTP 25, on hostile input.
//
// The decoder is iterative: a container writes its term into the slot that
// awaits it, allocates its elements' slots on the heap and pushes a frame; the
// loop then fills the innermost frame's next slot. A list's tail is decoded
// after its frame is gone, so chains of tails (a long list sent cell by cell)
// take no stack and do not count as nesting.
//
// Every claimed element count is checked against the input before anything is
// allocated: each element still to come needs at least one byte, so `pending`
// (slots promised but not yet started) may never exceed the bytes left. Total
// allocation is therefore bounded by a small multiple of the input size.
#include <algorithm>
#include <bit>
#include <cassert>
#include <climits>
#include <cmath>
#include <cstring>
#include <locale.h>
#include <new>
#include <stdlib.h>
#include <zlib.h>

#include <fmt/format.h>

#include "etf_internal.hpp"
#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/etf.hpp"
#include "nifhost/core/order.hpp"
#include "nifhost/core/terms.hpp"

namespace nifhost::core {

using namespace etf_detail;

namespace {

// The BEAM's limits for identifiers of its own node (OTP 25, checked with erl).
constexpr std::uint32_t kMaxLocalPidNumber = 0x7FFF;      // 15 bits
constexpr std::uint32_t kMaxLocalPidSerial = 0x1FFF;      // 13 bits
constexpr std::uint64_t kMaxLocalPortNumber = 0xFFFFFFF;  // 28 bits
constexpr std::uint32_t kMaxRefFirstWord = 0x3FFFF;       // 18 bits (and in the old formats)
constexpr std::size_t kLocalRefWords = 3;
constexpr std::size_t kMaxRefWords = 5;
constexpr std::uint32_t kMaxOldCreation = 3;  // the one-byte creation of old formats
constexpr std::size_t kMaxAtomUtf8Bytes = 4 * 255;
constexpr std::size_t kMaxFunFree = 255;
constexpr std::uint64_t kMaxSmallMagnitude = std::uint64_t{1} << 59;  // |MIN_SMALL|
constexpr std::size_t kFlatmapLimit = 32;
// Deflate never expands a byte of compressed data into more than 1032 bytes
// (a 258-byte match per two bits), so a larger declared size is a lie.
constexpr std::uint64_t kDeflateMaxRatio = 1032;

struct Frame {
  enum Kind : std::uint8_t { kTuple, kList, kMap, kFun };
  Kind kind;
  std::size_t left;    // element slots still to fill
  std::size_t depth;   // nesting depth of the elements
  std::size_t index;   // kMap: slots taken so far; kFun: index into Decoder::funs_
  std::size_t size;    // kMap: number of pairs
  std::size_t offset;  // the container's tag, for errors
  Term* next;          // next slot (tuple elements, list heads, fun environment)
  Term* tail;          // kList: the last cell's tail slot
  Term* keys;          // kMap: keys, followed by the values
};

// A NEW_FUN_EXT whose environment is still being decoded.
struct PendingFun {
  std::uint8_t arity;
  std::uint8_t uniq[16];
  std::uint32_t index;
  std::uint32_t num_free;
  std::int32_t old_index;
  std::int32_t old_uniq;
  Term module;
  Term creator;
  Term* env;
  Term* slot;
};

struct AtomCacheSlot {
  Term atom = 0;  // 0: empty (no atom term is 0)
  bool latin1 = false;
  std::uint8_t length = 0;
  char text[46];
};

struct AtomDecodeCache {
  AtomCacheSlot slots[256];
};

// Looked up once per decode: thread_local access from a shared library is a call
// to __tls_get_addr. (Not inlined, so the compiler cannot turn every use of the
// reference back into a thread_local access.)
[[gnu::noinline]] AtomDecodeCache& atom_decode_cache() {
  thread_local AtomDecodeCache cache;
  return cache;
}

AtomCacheSlot& atom_cache_slot(AtomDecodeCache& cache, bool latin1, const std::uint8_t* text,
                               std::size_t n) {
  std::uint32_t h = latin1 ? 0x811C9DC5u : 0x050C5D1Fu;  // FNV-1a
  for (std::size_t i = 0; i < n; ++i) h = (h ^ text[i]) * 0x01000193u;
  return cache.slots[(h ^ (h >> 16)) & 255];
}

bool is_atom_tag(std::uint8_t t) {
  return t == etf_tag::kAtom || t == etf_tag::kSmallAtom || t == etf_tag::kAtomUtf8 ||
         t == etf_tag::kSmallAtomUtf8;
}

// FLOAT_EXT: the text as sys_chars_to_double accepts it,
// [+-]digits(.|,)digits([eE][+-]digits), up to the first NUL of the 31 bytes.
// Overflow is an error; underflow gives zero or a denormal, as in the BEAM.
bool parse_float_text(const std::uint8_t* field, double& out) {
  std::size_t len = 0;
  while (len < 31 && field[len] != 0) ++len;
  char buf[32];
  std::size_t n = 0, i = 0;
  auto digit = [&](std::size_t k) { return k < len && field[k] >= '0' && field[k] <= '9'; };
  if (i < len && (field[i] == '+' || field[i] == '-')) {
    if (field[i] == '-') buf[n++] = '-';
    ++i;
  }
  std::size_t from = i;
  while (digit(i)) buf[n++] = static_cast<char>(field[i++]);
  if (i == from || i >= len || (field[i] != '.' && field[i] != ',')) return false;
  buf[n++] = '.';
  from = ++i;
  while (digit(i)) buf[n++] = static_cast<char>(field[i++]);
  if (i == from) return false;
  if (i < len && (field[i] == 'e' || field[i] == 'E')) {
    buf[n++] = 'e';
    ++i;
    if (i < len && (field[i] == '+' || field[i] == '-')) buf[n++] = static_cast<char>(field[i++]);
    from = i;
    while (digit(i)) buf[n++] = static_cast<char>(field[i++]);
    if (i == from) return false;
  }
  if (i != len) return false;
  buf[n] = '\0';
  // strtod_l in the C locale: the radix is '.' whatever the process locale is.
  static locale_t c_locale = newlocale(LC_ALL_MASK, "C", locale_t{});
  char* endp = nullptr;
  double d = c_locale != locale_t{} ? strtod_l(buf, &endp, c_locale) : strtod(buf, &endp);
  if (endp != buf + n || !std::isfinite(d)) return false;
  out = d;
  return true;
}

class Decoder {
 public:
  Decoder(Heap& heap, const DecodeOptions& options, const std::uint8_t* base,
          const std::uint8_t* end, std::size_t bias, OffHeapObject* owner)
      : heap_(heap),
        opts_(options),
        base_(base),
        end_(end),
        bias_(bias),
        owner_(owner),
        atom_cache_(atom_decode_cache()) {}

  // Decodes one term starting at p (its tag byte); advances p past it.
  bool run(const std::uint8_t*& p, Term& out);

  std::size_t offset_of(const std::uint8_t* q) const {
    return bias_ + static_cast<std::size_t>(q - base_);
  }
  std::size_t position() const { return offset_of(p_); }
  EtfError error{EtfErrc::kTruncated, 0, {}};

 private:
  bool decode_one(Term* slot, std::size_t depth);
  bool atom_body(std::uint8_t tag, const std::uint8_t* start, Term& out);
  bool field_atom(const std::uint8_t* start, Term& out, EtfErrc code, const char* what);
  bool field_small(std::int64_t& v, EtfErrc code, const char* what);
  bool bignum(const std::uint8_t* start, bool neg, std::size_t n, Term& out);
  bool pid(std::uint8_t tag, const std::uint8_t* start, Term& out);
  bool port(std::uint8_t tag, const std::uint8_t* start, Term& out);
  bool reference(std::uint8_t tag, const std::uint8_t* start, Term& out);
  bool binary(const std::uint8_t* start, std::size_t n, Term& out);
  bool bit_binary(const std::uint8_t* start, std::size_t n, unsigned bits, Term& out);
  bool new_fun(const std::uint8_t* start, Term* slot, std::size_t depth);
  bool export_fun(const std::uint8_t* start, Term& out);
  bool finish_fun(const PendingFun& f, std::size_t offset);
  bool finish_map(const Frame& f);
  bool extension(const std::uint8_t* start, Term& out);

  bool fail(EtfErrc code, const std::uint8_t* at, std::string detail) {
    return fail_offset(code, offset_of(at), std::move(detail));
  }
  bool fail_offset(EtfErrc code, std::size_t offset, std::string detail) {
    error = EtfError{code, offset, std::move(detail)};
    return false;
  }
  std::size_t remaining() const { return static_cast<std::size_t>(end_ - p_); }
  bool need(std::size_t k, const std::uint8_t* start, const char* what) {
    if (k <= remaining()) return true;
    return fail(EtfErrc::kTruncated, start,
                fmt::format("{} needs {} more bytes, {} left", what, k, remaining()));
  }
  // Promises k more element slots; each needs at least one byte of input.
  bool claim(std::size_t k, std::size_t count, const std::uint8_t* start, const char* what) {
    std::size_t left = remaining();
    if (k > left || pending_ > left - k)
      return fail(EtfErrc::kTooLarge, start,
                  fmt::format("{} claims {} elements but only {} bytes remain", what, count, left));
    pending_ += k;
    return true;
  }
  bool enter(std::size_t depth, const std::uint8_t* start) {
    if (depth + 1 <= opts_.max_depth) return true;
    return fail(EtfErrc::kTooDeep, start,
                fmt::format("containers nested more than {} deep", opts_.max_depth));
  }
  bool out_of_memory(const std::uint8_t* at, std::size_t bytes) {
    return fail(EtfErrc::kOutOfMemory, at, fmt::format("no memory for a {}-byte binary", bytes));
  }

  Heap& heap_;
  const DecodeOptions& opts_;
  const std::uint8_t* base_;
  const std::uint8_t* end_;
  std::size_t bias_;
  OffHeapObject* owner_;
  AtomDecodeCache& atom_cache_;
  const std::uint8_t* p_ = nullptr;
  std::size_t pending_ = 0;
  SmallStack<Frame, 16> frames_;
  std::vector<PendingFun> funs_;
};

bool Decoder::run(const std::uint8_t*& p, Term& out) {
  p_ = p;
  out = kNilTerm;
  Term* slot = &out;
  std::size_t depth = 0;
  for (;;) {
    if (!decode_one(slot, depth)) return false;
    // The next slot to fill: the innermost unfinished container's.
    for (;;) {
      if (frames_.empty()) {
        p = p_;
        return true;
      }
      Frame& f = frames_.back();
      if (f.left > 0) {
        --f.left;
        --pending_;
        depth = f.depth;
        switch (f.kind) {
          case Frame::kTuple:
          case Frame::kFun:
            slot = f.next++;
            break;
          case Frame::kList:
            slot = f.next;
            f.next += 2;
            break;
          case Frame::kMap: {
            std::size_t j = f.index++;
            slot = f.keys + (j & 1 ? f.size : 0) + j / 2;
            break;
          }
        }
        break;
      }
      if (f.kind == Frame::kList) {
        // The tail stands in the list's own place: same depth, no frame.
        slot = f.tail;
        depth = f.depth - 1;
        --pending_;
        frames_.pop();
        break;
      }
      if (f.kind == Frame::kMap && !finish_map(f)) return false;
      if (f.kind == Frame::kFun && !finish_fun(funs_[f.index], f.offset)) return false;
      frames_.pop();
    }
  }
}

bool Decoder::decode_one(Term* slot, std::size_t depth) {
  for (;;) {
    const std::uint8_t* start = p_;
    if (p_ >= end_)
      return fail(EtfErrc::kTruncated, start, "the input ends where a term should start");
    std::uint8_t t = *p_++;
    switch (t) {
      case etf_tag::kSmallInteger:
        if (!need(1, start, "SMALL_INTEGER_EXT")) return false;
        *slot = make_small(*p_++);
        return true;
      case etf_tag::kInteger:
        if (!need(4, start, "INTEGER_EXT")) return false;
        *slot = make_small(static_cast<std::int32_t>(get32(p_)));
        p_ += 4;
        return true;
      case etf_tag::kSmallBig: {
        if (!need(2, start, "SMALL_BIG_EXT")) return false;
        std::size_t n = p_[0];
        bool neg = p_[1] != 0;
        p_ += 2;
        return bignum(start, neg, n, *slot);
      }
      case etf_tag::kLargeBig: {
        if (!need(5, start, "LARGE_BIG_EXT")) return false;
        std::size_t n = get32(p_);
        bool neg = p_[4] != 0;
        p_ += 5;
        return bignum(start, neg, n, *slot);
      }
      case etf_tag::kNewFloat: {
        if (!need(8, start, "NEW_FLOAT_EXT")) return false;
        double d = std::bit_cast<double>(get64(p_));
        if (!std::isfinite(d))
          return fail(EtfErrc::kBadFloat, start, "NEW_FLOAT_EXT holds NaN or an infinity");
        *slot = make_float(heap_, d);
        p_ += 8;
        return true;
      }
      case etf_tag::kFloat: {
        if (!need(31, start, "FLOAT_EXT")) return false;
        double d;
        if (!parse_float_text(p_, d))
          return fail(EtfErrc::kBadFloat, start, "FLOAT_EXT text is not a finite float");
        *slot = make_float(heap_, d);
        p_ += 31;
        return true;
      }
      case etf_tag::kAtom:
      case etf_tag::kSmallAtom:
      case etf_tag::kAtomUtf8:
      case etf_tag::kSmallAtomUtf8:
        return atom_body(t, start, *slot);
      case etf_tag::kSmallTuple:
      case etf_tag::kLargeTuple: {
        std::size_t n;
        if (t == etf_tag::kSmallTuple) {
          if (!need(1, start, "SMALL_TUPLE_EXT")) return false;
          n = *p_++;
        } else {
          if (!need(4, start, "LARGE_TUPLE_EXT")) return false;
          n = get32(p_);
          p_ += 4;
        }
        if (n == 0) {
          *slot = make_tuple(heap_, std::span<const Term>{});
          return true;
        }
        if (!enter(depth, start) || !claim(n, n, start, "a tuple")) return false;
        Term* w = heap_.allocate_words(1 + n);
        w[0] = make_header(Subtag::kTuple, n);
        *slot = make_boxed(w);
        frames_.push(
            Frame{Frame::kTuple, n, depth + 1, 0, 0, offset_of(start), w + 1, nullptr, nullptr});
        return true;
      }
      case etf_tag::kNil:
        *slot = kNilTerm;
        return true;
      case etf_tag::kString: {
        if (!need(2, start, "STRING_EXT")) return false;
        std::size_t n = get16(p_);
        p_ += 2;
        if (!need(n, start, "STRING_EXT bytes")) return false;
        if (n == 0) {
          *slot = kNilTerm;
          return true;
        }
        Term* c = heap_.allocate_words(2 * n);
        for (std::size_t i = 0; i < n; ++i) {
          c[2 * i] = make_small(p_[i]);
          c[2 * i + 1] = make_cons_term(c + 2 * i + 2);
        }
        c[2 * n - 1] = kNilTerm;
        *slot = make_cons_term(c);
        p_ += n;
        return true;
      }
      case etf_tag::kList: {
        if (!need(4, start, "LIST_EXT")) return false;
        std::size_t n = get32(p_);
        p_ += 4;
        if (n == 0) continue;  // no cells: the tail is the whole term
        if (!enter(depth, start) || !claim(n + 1, n, start, "a list")) return false;
        Term* c = heap_.allocate_words(2 * n);
        for (std::size_t i = 0; i + 1 < n; ++i) c[2 * i + 1] = make_cons_term(c + 2 * i + 2);
        *slot = make_cons_term(c);
        frames_.push(
            Frame{Frame::kList, n, depth + 1, 0, 0, offset_of(start), c, c + 2 * n - 1, nullptr});
        return true;
      }
      case etf_tag::kBinary: {
        if (!need(4, start, "BINARY_EXT")) return false;
        std::size_t n = get32(p_);
        p_ += 4;
        return binary(start, n, *slot);
      }
      case etf_tag::kBitBinary: {
        if (!need(5, start, "BIT_BINARY_EXT")) return false;
        std::size_t n = get32(p_);
        unsigned bits = p_[4];
        p_ += 5;
        return bit_binary(start, n, bits, *slot);
      }
      case etf_tag::kMap: {
        if (!need(4, start, "MAP_EXT")) return false;
        std::size_t n = get32(p_);
        p_ += 4;
        if (n == 0) {
          *slot = make_empty_map(heap_);
          return true;
        }
        if (!enter(depth, start) || !claim(2 * n, 2 * n, start, "a map")) return false;
        // Layout as in term.hpp: [hdr][n][keys...][values...]; finish_map orders it.
        Term* m = heap_.allocate_words(2 + 2 * n);
        m[0] = make_header(Subtag::kMap, 1 + 2 * n);
        m[1] = n;
        *slot = make_boxed(m);
        frames_.push(
            Frame{Frame::kMap, 2 * n, depth + 1, 0, n, offset_of(start), nullptr, nullptr, m + 2});
        return true;
      }
      case etf_tag::kPid:
      case etf_tag::kNewPid:
        return pid(t, start, *slot);
      case etf_tag::kPort:
      case etf_tag::kNewPort:
      case etf_tag::kV4Port:
        return port(t, start, *slot);
      case etf_tag::kReference:
      case etf_tag::kNewReference:
      case etf_tag::kNewerReference:
        return reference(t, start, *slot);
      case etf_tag::kNewFun:
        return new_fun(start, slot, depth);
      case etf_tag::kExport:
        return export_fun(start, *slot);
      case etf_tag::kAtomCacheRef:
        return fail(EtfErrc::kDistributionOnly, start,
                    "ATOM_CACHE_REF (82) refers to a distribution channel's atom cache");
      case etf_tag::kDistHeader:
        return fail(EtfErrc::kDistributionOnly, start,
                    "DIST_HEADER (68) only starts distribution messages");
      case etf_tag::kCompressed:
        return fail(EtfErrc::kUnknownTag, start,
                    "COMPRESSED (80) may only follow the version byte");
      case etf_tag::kFun:
        return fail(EtfErrc::kUnknownTag, start, "FUN_EXT (117) is not accepted since OTP 23");
      case etf_tag::kLocal:
        return fail(EtfErrc::kUnknownTag, start, "LOCAL_EXT (121) is not accepted by OTP 25");
      default:
        if (opts_.extension != nullptr && opts_.extension->decodes_tag(t))
          return extension(start, *slot);
        return fail(EtfErrc::kUnknownTag, start, fmt::format("byte {} starts no term", t));
    }
  }
}

bool Decoder::atom_body(std::uint8_t t, const std::uint8_t* start, Term& out) {
  bool wide = t == etf_tag::kAtom || t == etf_tag::kAtomUtf8;
  bool latin1 = t == etf_tag::kAtom || t == etf_tag::kSmallAtom;
  std::size_t n;
  if (wide) {
    if (!need(2, start, "an atom's length")) return false;
    n = get16(p_);
    p_ += 2;
  } else {
    if (!need(1, start, "an atom's length")) return false;
    n = *p_++;
  }
  if (latin1 && n > AtomTable::kMaxCharacters)
    return fail(EtfErrc::kBadAtom, start,
                fmt::format("a latin-1 atom of {} characters (at most 255)", n));
  if (!latin1 && n > kMaxAtomUtf8Bytes)
    return fail(EtfErrc::kBadAtom, start,
                fmt::format("a UTF-8 atom of {} bytes (at most 1020)", n));
  if (!need(n, start, "atom text")) return false;
  // Most atoms in a term are repeats: a per-thread cache of recently decoded
  // texts skips the atom table's lock and hashing (atoms are never freed).
  AtomCacheSlot& slot = atom_cache_slot(atom_cache_, latin1, p_, n);
  if (slot.atom != 0 && slot.latin1 == latin1 && slot.length == n &&
      std::memcmp(slot.text, p_, n) == 0) {
    p_ += n;
    out = slot.atom;
    return true;
  }
  std::string_view text(reinterpret_cast<const char*>(p_), n);
  char buf[2 * 255];
  if (latin1) {
    std::size_t k = 0;
    bool ascii = true;
    for (std::size_t i = 0; i < n; ++i) {
      auto c = static_cast<unsigned char>(p_[i]);
      if (c < 0x80) {
        buf[k++] = static_cast<char>(c);
      } else {
        ascii = false;
        buf[k++] = static_cast<char>(0xC0 | (c >> 6));
        buf[k++] = static_cast<char>(0x80 | (c & 0x3F));
      }
    }
    if (!ascii) text = std::string_view(buf, k);
  }
  AtomTable& table = AtomTable::instance();
  auto a = opts_.existing_atoms_only ? table.find(text) : table.intern(text);
  if (!a) {
    if (opts_.existing_atoms_only && a.error() == AtomError::kBadEncoding)
      return fail(EtfErrc::kBadAtom, start,
                  "an atom that does not exist yet (existing_atoms_only)");
    return fail(EtfErrc::kBadAtom, start, atom_error_text(a.error()));
  }
  if (n <= sizeof(slot.text)) {
    std::memcpy(slot.text, p_, n);
    slot.length = static_cast<std::uint8_t>(n);
    slot.latin1 = latin1;
    slot.atom = *a;
  }
  p_ += n;
  out = *a;
  return true;
}

bool Decoder::field_atom(const std::uint8_t* start, Term& out, EtfErrc code, const char* what) {
  const std::uint8_t* at = p_;
  if (!need(1, start, what)) return false;
  std::uint8_t t = *p_;
  if (!is_atom_tag(t)) return fail(code, at, fmt::format("{} is not an atom (tag {})", what, t));
  ++p_;
  return atom_body(t, at, out);
}

bool Decoder::field_small(std::int64_t& v, EtfErrc code, const char* what) {
  const std::uint8_t* at = p_;
  if (!need(1, at, what)) return false;
  std::uint8_t t = *p_++;
  switch (t) {
    case etf_tag::kSmallInteger:
      if (!need(1, at, what)) return false;
      v = *p_++;
      return true;
    case etf_tag::kInteger:
      if (!need(4, at, what)) return false;
      v = static_cast<std::int32_t>(get32(p_));
      p_ += 4;
      return true;
    case etf_tag::kSmallBig:
    case etf_tag::kLargeBig: {
      std::size_t n;
      bool neg;
      if (t == etf_tag::kSmallBig) {
        if (!need(2, at, what)) return false;
        n = p_[0];
        neg = p_[1] != 0;
        p_ += 2;
      } else {
        if (!need(5, at, what)) return false;
        n = get32(p_);
        neg = p_[4] != 0;
        p_ += 5;
        if (n > opts_.max_bignum_bytes)
          return fail(EtfErrc::kTooLarge, at, fmt::format("a bignum of {} bytes", n));
      }
      if (!need(n, at, what)) return false;
      std::size_t k = n;
      while (k > 0 && p_[k - 1] == 0) --k;
      std::uint64_t m = 0;
      if (k <= 8)
        for (std::size_t i = k; i-- > 0;) m = (m << 8) | p_[i];
      if (k > 8 || m > kMaxSmallMagnitude || (!neg && m == kMaxSmallMagnitude))
        return fail(code, at, fmt::format("{} is not a small integer", what));
      p_ += n;
      v = neg ? -static_cast<std::int64_t>(m) : static_cast<std::int64_t>(m);
      return true;
    }
    default:
      return fail(code, at, fmt::format("{} is not an integer (tag {})", what, t));
  }
}

bool Decoder::bignum(const std::uint8_t* start, bool neg, std::size_t n, Term& out) {
  if (n > opts_.max_bignum_bytes)
    return fail(EtfErrc::kTooLarge, start,
                fmt::format("a bignum of {} bytes (limit {})", n, opts_.max_bignum_bytes));
  if (!need(n, start, "bignum digits")) return false;
  const std::uint8_t* d = p_;
  p_ += n;
  while (n > 0 && d[n - 1] == 0) --n;  // leading zeros, as the BEAM strips them
  if (n <= 8) {
    std::uint64_t m = 0;
    for (std::size_t i = n; i-- > 0;) m = (m << 8) | d[i];
    out = make_bignum(heap_, neg, {&m, 1});  // normalises to a small when it fits
    return true;
  }
  std::size_t digits = (n + 7) / 8;
  Term* w = heap_.allocate_words(1 + digits);
  w[0] = make_header(neg ? Subtag::kNegBig : Subtag::kPosBig, digits);
  for (std::size_t i = 0; i < digits; ++i) {
    std::uint64_t v = 0;
    std::size_t lo = 8 * i, hi = std::min(n, lo + 8);
    for (std::size_t j = hi; j-- > lo;) v = (v << 8) | d[j];
    w[1 + i] = v;
  }
  out = make_boxed(w);
  return true;
}

bool Decoder::pid(std::uint8_t t, const std::uint8_t* start, Term& out) {
  Term node;
  if (!field_atom(start, node, EtfErrc::kBadIdentifier, "a pid's node")) return false;
  bool old = t == etf_tag::kPid;
  if (!need(old ? 9 : 12, start, old ? "PID_EXT" : "NEW_PID_EXT")) return false;
  std::uint32_t id = get32(p_), serial = get32(p_ + 4);
  std::uint32_t creation = old ? p_[8] : get32(p_ + 8);
  if (old && creation > kMaxOldCreation)
    return fail(EtfErrc::kBadIdentifier, start,
                fmt::format("PID_EXT creation {} (at most {})", creation, kMaxOldCreation));
  if (opts_.beam_identifier_limits && node == atoms::kNonode && creation == kLocalCreation &&
      (id > kMaxLocalPidNumber || serial > kMaxLocalPidSerial))
    return fail(EtfErrc::kBadIdentifier, start,
                fmt::format("local pid <0.{}.{}> out of the BEAM's range (15-bit number, "
                            "13-bit serial)",
                            id, serial));
  p_ += old ? 9 : 12;
  out = make_pid(heap_, node, id, serial, creation);
  return true;
}

bool Decoder::port(std::uint8_t t, const std::uint8_t* start, Term& out) {
  Term node;
  if (!field_atom(start, node, EtfErrc::kBadIdentifier, "a port's node")) return false;
  std::uint64_t id;
  std::uint32_t creation;
  if (t == etf_tag::kPort) {
    if (!need(5, start, "PORT_EXT")) return false;
    id = get32(p_);
    creation = p_[4];
    if (creation > kMaxOldCreation)
      return fail(EtfErrc::kBadIdentifier, start,
                  fmt::format("PORT_EXT creation {} (at most {})", creation, kMaxOldCreation));
    p_ += 5;
  } else if (t == etf_tag::kNewPort) {
    if (!need(8, start, "NEW_PORT_EXT")) return false;
    id = get32(p_);
    creation = get32(p_ + 4);
    p_ += 8;
  } else {
    if (!need(12, start, "V4_PORT_EXT")) return false;
    id = get64(p_);
    creation = get32(p_ + 8);
    p_ += 12;
  }
  if (opts_.beam_identifier_limits && node == atoms::kNonode && creation == kLocalCreation &&
      id > kMaxLocalPortNumber)
    return fail(EtfErrc::kBadIdentifier, start,
                fmt::format("local port #Port<0.{}> out of the BEAM's 28-bit range", id));
  out = make_port(heap_, node, id, creation);
  return true;
}

bool Decoder::reference(std::uint8_t t, const std::uint8_t* start, Term& out) {
  std::uint32_t ids[kMaxRefWords] = {};
  std::size_t count = 1;
  Term node;
  std::uint32_t creation;
  if (t == etf_tag::kReference) {
    if (!field_atom(start, node, EtfErrc::kBadIdentifier, "a reference's node")) return false;
    if (!need(5, start, "REFERENCE_EXT")) return false;
    ids[0] = get32(p_);
    creation = p_[4];
    p_ += 5;
  } else {
    const char* name = t == etf_tag::kNewReference ? "NEW_REFERENCE_EXT" : "NEWER_REFERENCE_EXT";
    if (!need(2, start, name)) return false;
    count = get16(p_);
    p_ += 2;
    if (count > kMaxRefWords)
      return fail(EtfErrc::kBadIdentifier, start,
                  fmt::format("{} of {} words (at most {})", name, count, kMaxRefWords));
    if (!field_atom(start, node, EtfErrc::kBadIdentifier, "a reference's node")) return false;
    std::size_t cre_bytes = t == etf_tag::kNewReference ? 1 : 4;
    // erl 25 reads a first word even when the count is 0, past what the
    // reference declares (and past the end of the input when it ends there):
    // it cannot read back its own encoding of a 0-word reference. nifhost reads
    // the words the count says, so such references round-trip.
    if (!need(cre_bytes + 4 * count, start, name)) return false;
    creation = cre_bytes == 1 ? p_[0] : get32(p_);
    p_ += cre_bytes;
    for (std::size_t i = 0; i < count; ++i) ids[i] = get32(p_ + 4 * i);
    p_ += 4 * count;
  }
  if (t != etf_tag::kNewerReference) {
    if (creation > kMaxOldCreation)
      return fail(EtfErrc::kBadIdentifier, start,
                  fmt::format("reference creation {} (at most {})", creation, kMaxOldCreation));
    if (ids[0] > kMaxRefFirstWord)
      return fail(EtfErrc::kBadIdentifier, start,
                  fmt::format("reference first word {:#x} (at most 18 bits)", ids[0]));
  }
  if (opts_.beam_identifier_limits && node == atoms::kNonode && creation == kLocalCreation) {
    if (count > kLocalRefWords || ids[0] > kMaxRefFirstWord)
      return fail(EtfErrc::kBadIdentifier, start,
                  fmt::format("local reference of {} words, first {:#x} (the BEAM makes 3 "
                              "words, the first of 18 bits)",
                              count, ids[0]));
    count = kLocalRefWords;  // fewer words are padded with zeros
  }
  if (count > 0) {
    out = make_ref(heap_, node, creation, std::span<const std::uint32_t>(ids, count));
  } else {
    // make_ref() wants at least one word; the layout (term.hpp) allows none.
    Term* w = heap_.allocate_words(4);
    w[0] = make_header(Subtag::kRef, 3);
    w[1] = node;
    w[2] = creation;
    w[3] = 0;
    out = make_boxed(w);
  }
  return true;
}

bool Decoder::binary(const std::uint8_t* start, std::size_t n, Term& out) {
  if (!need(n, start, "binary bytes")) return false;
  if (n > kHeapBinaryMax && owner_ != nullptr) {
    out = make_binary_view(heap_, owner_, p_, n);
  } else {
    auto b = make_binary(heap_, std::span<const std::uint8_t>(p_, n));
    if (!b) return out_of_memory(start, n);
    out = *b;
  }
  p_ += n;
  return true;
}

bool Decoder::bit_binary(const std::uint8_t* start, std::size_t n, unsigned bits, Term& out) {
  if ((bits == 0) != (n == 0) || bits > 8)
    return fail(EtfErrc::kBadBitstring, start,
                fmt::format("BIT_BINARY_EXT of {} bytes with {} bits in the last (1..8; 0 only "
                            "when empty)",
                            n, bits));
  if (n == 0 || bits == 8) return binary(start, n, out);
  if (!need(n, start, "bitstring bytes")) return false;
  // The unused low bits of the last byte are cleared, as the BEAM does.
  auto mask = static_cast<std::uint8_t>(0xFFu << (8 - bits));
  std::uint8_t last = static_cast<std::uint8_t>(p_[n - 1] & mask);
  if (n <= kHeapBinaryMax) {
    std::uint8_t buf[kHeapBinaryMax];
    std::memcpy(buf, p_, n);
    buf[n - 1] = last;
    auto b = make_bitstring(heap_, std::span<const std::uint8_t>(buf, n), n - 1, bits);
    if (!b) return out_of_memory(start, n);
    out = *b;
  } else if (owner_ != nullptr && last == p_[n - 1]) {
    out = make_binary_view(heap_, owner_, p_, n - 1, bits);
  } else {
    RefcBinary* b = RefcBinary::create(n);
    if (b == nullptr) return out_of_memory(start, n);
    std::memcpy(b->data(), p_, n);
    b->data()[n - 1] = last;
    out = make_binary_view(heap_, b, b->data(), n - 1, bits);
    b->release();  // the view holds its own reference
  }
  p_ += n;
  return true;
}

bool Decoder::new_fun(const std::uint8_t* start, Term* slot, std::size_t depth) {
  // Size(4) Arity(1) Uniq(16) Index(4) NumFree(4); the BEAM ignores Size.
  if (!need(29, start, "NEW_FUN_EXT")) return false;
  PendingFun f{};
  f.arity = p_[4];
  std::memcpy(f.uniq, p_ + 5, 16);
  f.index = get32(p_ + 21);
  f.num_free = get32(p_ + 25);
  p_ += 29;
  if (f.num_free > kMaxFunFree)
    return fail(EtfErrc::kBadFun, start,
                fmt::format("a fun with {} free variables (at most {})", f.num_free, kMaxFunFree));
  if (!field_atom(start, f.module, EtfErrc::kBadFun, "a fun's module")) return false;
  std::int64_t v;
  // OldIndex and OldUniq are kept as 32-bit ints by the BEAM.
  if (!field_small(v, EtfErrc::kBadFun, "a fun's OldIndex")) return false;
  f.old_index = static_cast<std::int32_t>(static_cast<std::uint32_t>(v));
  if (!field_small(v, EtfErrc::kBadFun, "a fun's OldUniq")) return false;
  f.old_uniq = static_cast<std::int32_t>(static_cast<std::uint32_t>(v));
  // The creator must be a pid. (erl 25.2.3 accepts other terms here and then
  // crashes; refusing them is the only safe reading.)
  const std::uint8_t* at = p_;
  if (!need(1, start, "a fun's creator")) return false;
  std::uint8_t t = *p_;
  if (t != etf_tag::kPid && t != etf_tag::kNewPid)
    return fail(EtfErrc::kBadFun, at, fmt::format("a fun's creator is not a pid (tag {})", t));
  ++p_;
  if (!pid(t, at, f.creator)) return false;
  if (f.num_free == 0) {
    f.slot = slot;
    return finish_fun(f, offset_of(start));
  }
  if (!enter(depth, start) || !claim(f.num_free, f.num_free, start, "a fun's environment"))
    return false;
  f.env = heap_.allocate_words(f.num_free);
  f.slot = slot;
  *slot = kNilTerm;  // replaced by finish_fun
  funs_.push_back(f);
  frames_.push(Frame{Frame::kFun, f.num_free, depth + 1, funs_.size() - 1, 0, offset_of(start),
                     f.env, nullptr, nullptr});
  return true;
}

// Stores the fun as the BEAM would encode it again: canonical atoms, integers,
// creator and environment, and a Size field that is right.
bool Decoder::finish_fun(const PendingFun& f, std::size_t offset) {
  std::vector<std::uint8_t> b;
  b.reserve(64);
  b.push_back(etf_tag::kNewFun);
  b.resize(1 + 4);  // Size, patched below
  b.push_back(f.arity);
  b.insert(b.end(), f.uniq, f.uniq + 16);
  std::uint8_t w[8];
  put32(w, f.index);
  put32(w + 4, f.num_free);
  b.insert(b.end(), w, w + 8);
  bool ok = append_body(f.module, b, opts_.extension) &&
            append_body(make_small(f.old_index), b, opts_.extension) &&
            append_body(make_small(f.old_uniq), b, opts_.extension) &&
            append_body(f.creator, b, opts_.extension);
  for (std::uint32_t i = 0; ok && i < f.num_free; ++i)
    ok = append_body(f.env[i], b, opts_.extension).has_value();
  if (!ok)
    return fail_offset(EtfErrc::kExtension, offset,
                       "a fun's environment holds a term the extension cannot encode");
  put32(b.data() + 1, static_cast<std::uint32_t>(b.size() - 1));
  *f.slot = make_fun(heap_, b);
  return true;
}

bool Decoder::export_fun(const std::uint8_t* start, Term& out) {
  Term module, function;
  std::int64_t arity;
  if (!field_atom(start, module, EtfErrc::kBadFun, "an external fun's module") ||
      !field_atom(start, function, EtfErrc::kBadFun, "an external fun's function") ||
      !field_small(arity, EtfErrc::kBadFun, "an external fun's arity"))
    return false;
  if (arity < 0)
    return fail(EtfErrc::kBadFun, start, fmt::format("an external fun of arity {}", arity));
  std::vector<std::uint8_t> b;
  b.reserve(32);
  b.push_back(etf_tag::kExport);
  // The BEAM keeps the arity in 32 bits.
  Term a = make_small(static_cast<std::int64_t>(static_cast<std::uint32_t>(arity)));
  if (!append_body(module, b, nullptr) || !append_body(function, b, nullptr) ||
      !append_body(a, b, nullptr)) {
    assert(false);
    return false;
  }
  out = make_fun(heap_, b);
  return true;
}

bool Decoder::finish_map(const Frame& f) {
  std::size_t n = f.size;
  Term* keys = f.keys;
  Term* values = f.keys + n;
  if (n <= kFlatmapLimit) {
    // Input from term_to_binary is already in order: check before sorting.
    bool ordered = true;
    for (std::size_t i = 1; i < n && ordered; ++i)
      ordered = compare_map_keys(keys[i - 1], keys[i]) < 0;
    if (ordered) return true;
  }
  if (!order_map_entries(std::span<Term>(keys, n), std::span<Term>(values, n)))
    return fail_offset(EtfErrc::kDuplicateMapKey, f.offset, "MAP_EXT holds the same key twice");
  return true;
}

bool Decoder::extension(const std::uint8_t* start, Term& out) {
  auto r = opts_.extension->decode(
      std::span<const std::uint8_t>(start, static_cast<std::size_t>(end_ - start)), heap_);
  if (!r) return fail(EtfErrc::kExtension, start, r.error());
  std::size_t used = r->second;
  if (used == 0 || used > static_cast<std::size_t>(end_ - start))
    return fail(EtfErrc::kExtension, start,
                fmt::format("the extension claims {} bytes of {}", used, end_ - start));
  p_ = start + used;
  out = r->first;
  return true;
}

tl::expected<DecodedPrefix, EtfError> decode_plain(std::span<const std::uint8_t> bytes, Heap& heap,
                                                   const DecodeOptions& options) {
  const std::uint8_t* begin = bytes.data();
  Decoder d(heap, options, begin, begin + bytes.size(), 0, options.input_owner);
  const std::uint8_t* p = begin + 1;
  Term t;
  try {
    if (!d.run(p, t)) return tl::unexpected(std::move(d.error));
  } catch (const std::bad_alloc&) {
    return tl::unexpected(
        make_error(EtfErrc::kOutOfMemory, d.position(), "the heap could not grow"));
  }
  return DecodedPrefix{t, static_cast<std::size_t>(p - begin)};
}

// COMPRESSED: 80, the uncompressed size (4 bytes), a zlib stream. Inflates into
// a buffer of exactly the declared size, never more, then decodes from it.
tl::expected<DecodedPrefix, EtfError> decode_compressed(std::span<const std::uint8_t> bytes,
                                                        Heap& heap, const DecodeOptions& options,
                                                        bool strict) {
  std::size_t declared = get32(bytes.data() + 2);
  auto z = bytes.subspan(6);
  if (declared > options.max_inflated_size)
    return tl::unexpected(make_error(EtfErrc::kTooLarge, 2,
                                     fmt::format("compressed term declares {} bytes (limit {})",
                                                 declared, options.max_inflated_size)));
  if (declared > kDeflateMaxRatio * z.size())
    return tl::unexpected(
        make_error(EtfErrc::kBadCompression, 2,
                   fmt::format("{} bytes of zlib data cannot inflate to the declared {}", z.size(),
                               declared)));
  if (z.size() > UINT_MAX)
    return tl::unexpected(make_error(EtfErrc::kTooLarge, 6, "compressed data over 4 GiB"));
  std::unique_ptr<std::uint8_t[]> buf(new (std::nothrow)
                                          std::uint8_t[declared == 0 ? 1 : declared]);
  if (!buf)
    return tl::unexpected(make_error(EtfErrc::kOutOfMemory, 2,
                                     fmt::format("no memory to inflate {} bytes", declared)));
  z_stream zs{};
  if (inflateInit(&zs) != Z_OK)
    return tl::unexpected(make_error(EtfErrc::kOutOfMemory, 6, "zlib could not start"));
  zs.next_in = const_cast<Bytef*>(z.data());
  zs.avail_in = static_cast<uInt>(z.size());
  zs.next_out = buf.get();
  zs.avail_out = static_cast<uInt>(declared);
  int rc = inflate(&zs, Z_FINISH);
  std::size_t produced = declared - zs.avail_out;
  std::size_t consumed = z.size() - zs.avail_in;
  bool input_left = zs.avail_in > 0;
  std::string zmsg = zs.msg ? zs.msg : "no detail";
  inflateEnd(&zs);
  // Errors in the stream point at it (byte 6); a wrong size points at the size (byte 2).
  if (rc == Z_STREAM_END) {
    if (produced != declared)
      return tl::unexpected(
          make_error(EtfErrc::kBadCompression, 2,
                     fmt::format("inflates to {} bytes, {} declared", produced, declared)));
  } else if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT || rc == Z_STREAM_ERROR) {
    return tl::unexpected(
        make_error(EtfErrc::kBadCompression, 6, fmt::format("corrupt zlib stream ({})", zmsg)));
  } else if (input_left) {
    return tl::unexpected(
        make_error(EtfErrc::kBadCompression, 2,
                   fmt::format("inflates to more than the {} bytes declared", declared)));
  } else {
    return tl::unexpected(make_error(
        EtfErrc::kBadCompression, 6,
        fmt::format("zlib stream ends early, after {} of {} bytes", produced, declared)));
  }

  Decoder d(heap, options, buf.get(), buf.get() + declared, 6, nullptr);
  const std::uint8_t* p = buf.get();
  Term t;
  try {
    if (!d.run(p, t)) return tl::unexpected(std::move(d.error));
  } catch (const std::bad_alloc&) {
    return tl::unexpected(
        make_error(EtfErrc::kOutOfMemory, d.position(), "the heap could not grow"));
  }
  std::size_t inner = static_cast<std::size_t>(p - buf.get());
  if (strict && inner != declared)
    return tl::unexpected(
        make_error(EtfErrc::kTrailingBytes, 6 + inner,
                   fmt::format("{} inflated bytes after the term", declared - inner)));
  return DecodedPrefix{t, 6 + consumed};
}

tl::expected<DecodedPrefix, EtfError> decode_any(std::span<const std::uint8_t> bytes, Heap& heap,
                                                 const DecodeOptions& options, bool strict) {
  if (bytes.empty()) return tl::unexpected(make_error(EtfErrc::kTruncated, 0, "empty input"));
  if (bytes[0] != kEtfVersion)
    return tl::unexpected(make_error(EtfErrc::kBadVersion, 0,
                                     fmt::format("version byte {} (expected 131)", bytes[0])));
  if (bytes.size() >= 2 && bytes[1] == etf_tag::kCompressed) {
    if (bytes.size() < 6)
      return tl::unexpected(
          make_error(EtfErrc::kTruncated, 1, "COMPRESSED needs a 4-byte size and data"));
    return decode_compressed(bytes, heap, options, strict);
  }
  return decode_plain(bytes, heap, options);
}

}  // namespace

tl::expected<DecodedPrefix, EtfError> decode_prefix(std::span<const std::uint8_t> bytes, Heap& heap,
                                                    const DecodeOptions& options) {
  return decode_any(bytes, heap, options, false);
}

tl::expected<Term, EtfError> decode(std::span<const std::uint8_t> bytes, Heap& heap,
                                    const DecodeOptions& options) {
  auto r = decode_any(bytes, heap, options, true);
  if (!r) return tl::unexpected(std::move(r.error()));
  if (r->used != bytes.size())
    return tl::unexpected(
        make_error(EtfErrc::kTrailingBytes, r->used,
                   fmt::format("{} bytes after the term", bytes.size() - r->used)));
  return r->term;
}

}  // namespace nifhost::core
