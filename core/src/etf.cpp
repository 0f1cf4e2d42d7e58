// ETF encoding: erlang:term_to_binary/1,2 of OTP 25, byte for byte.
//
// Encoding runs in two passes over the term: the first computes the exact size,
// the second writes into a buffer of that size with no bounds checks. Both
// passes are one traversal (walk<Sink>) with an explicit stack, so deep terms
// cannot overflow the machine stack and the two passes cannot disagree.
#include "nifhost/core/etf.hpp"

#include <algorithm>
#include <bit>
#include <cassert>
#include <climits>
#include <cstring>
#include <new>
#include <zlib.h>

#include <fmt/format.h>

#include "etf_internal.hpp"
#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/terms.hpp"

namespace nifhost::core {

using namespace etf_detail;

const char* etf_errc_name(EtfErrc code) {
  switch (code) {
    case EtfErrc::kTruncated:
      return "truncated";
    case EtfErrc::kBadVersion:
      return "bad version";
    case EtfErrc::kUnknownTag:
      return "unknown tag";
    case EtfErrc::kDistributionOnly:
      return "distribution-only tag";
    case EtfErrc::kBadAtom:
      return "bad atom";
    case EtfErrc::kBadFloat:
      return "bad float";
    case EtfErrc::kBadBitstring:
      return "bad bitstring";
    case EtfErrc::kDuplicateMapKey:
      return "duplicate map key";
    case EtfErrc::kBadIdentifier:
      return "bad pid, port or reference";
    case EtfErrc::kBadFun:
      return "bad fun";
    case EtfErrc::kTooDeep:
      return "too deep";
    case EtfErrc::kTooLarge:
      return "too large";
    case EtfErrc::kBadCompression:
      return "bad compressed data";
    case EtfErrc::kTrailingBytes:
      return "trailing bytes";
    case EtfErrc::kOutOfMemory:
      return "out of memory";
    case EtfErrc::kUnencodable:
      return "unencodable term";
    case EtfErrc::kExtension:
      return "extension error";
  }
  return "unknown error";
}

std::string EtfError::what() const {
  return fmt::format("{} at byte {}: {}", etf_errc_name(code), offset, detail);
}

// ---------------------------------------------------------------- handle extension
std::optional<HandleWords> HandleExtension::words_of(Term t) const {
  if (is_boxed_of(t, Subtag::kHandle)) {
    const RemoteResource* r = handle_object(t);
    return HandleWords{r->domain(), r->generation(), r->id(), r->type_tag()};
  }
  if (is_boxed_of(t, Subtag::kResource) && export_) return export_(resource_object(t));
  return std::nullopt;
}

std::optional<std::size_t> HandleExtension::encoded_size(Term t) const {
  if (words_of(t)) return kSize;
  return std::nullopt;
}

void HandleExtension::encode(Term t, std::uint8_t* out) const {
  auto w = words_of(t);
  assert(w.has_value());
  out[0] = kTag;
  put64(out + 1, w->domain);
  put64(out + 9, w->generation);
  put64(out + 17, w->id);
  put64(out + 25, w->type_tag);
}

tl::expected<std::pair<Term, std::size_t>, std::string> HandleExtension::decode(
    std::span<const std::uint8_t> in, Heap& heap) const {
  if (in.size() < kSize)
    return tl::unexpected(fmt::format("a handle takes {} bytes, {} left", kSize, in.size()));
  if (!import_) return tl::unexpected(std::string("this side does not accept handles"));
  HandleWords w{get64(in.data() + 1), get64(in.data() + 9), get64(in.data() + 17),
                get64(in.data() + 25)};
  auto t = import_(heap, w);
  if (!t) return tl::unexpected(t.error());
  return std::pair<Term, std::size_t>{*t, kSize};
}

// ---------------------------------------------------------------- encoder
namespace {

constexpr std::size_t kMaxStringExt = 65535;     // STRING_EXT's 16-bit length
constexpr std::uint64_t kV3PortMax = 0xFFFFFFF;  // larger port numbers need V4_PORT_EXT

// How an atom is written: OTP 25 writes latin-1 text as ATOM_EXT, anything else
// as UTF-8 (SMALL_ATOM_UTF8_EXT up to 255 bytes).
struct AtomForm {
  std::string_view utf8;
  std::size_t length;  // payload bytes as written
  std::uint8_t tag;
  bool convert;  // UTF-8 → latin-1 while writing
};

AtomForm compute_atom_form(Term a) {
  std::string_view s = atom_text(a);
  const auto* b = reinterpret_cast<const unsigned char*>(s.data());
  std::size_t leads = 0;  // two-byte sequences for U+0080..U+00FF
  for (std::size_t i = 0; i < s.size(); ++i) {
    unsigned c = b[i];
    if (c < 0x80) continue;
    if (c == 0xC2 || c == 0xC3) {
      ++leads;
      ++i;  // its continuation byte
      continue;
    }
    // A character at or past U+0100: not latin-1.
    return AtomForm{s, s.size(), s.size() > 255 ? etf_tag::kAtomUtf8 : etf_tag::kSmallAtomUtf8,
                    false};
  }
  return AtomForm{s, s.size() - leads, etf_tag::kAtom, leads != 0};
}

// Atoms are never freed and their text never changes, so what each atom is
// written as can be remembered for the life of the thread: the table lookup
// takes a lock, and a term usually repeats a few atoms many times.
struct AtomFormCache {
  struct Slot {
    Term atom = 0;  // 0: empty (no atom term is 0)
    AtomForm form{};
  };
  Slot slots[256];

  const AtomForm& get(Term a) {
    Slot& slot = slots[atom_index(a) & 255];
    if (slot.atom != a) {
      slot.form = compute_atom_form(a);
      slot.atom = a;
    }
    return slot.form;
  }
};

// Looked up once per walk: thread_local access from a shared library is a call
// to __tls_get_addr. (Not inlined, so the compiler cannot turn every use of the
// reference back into a thread_local access.)
[[gnu::noinline]] AtomFormCache& atom_form_cache() {
  thread_local AtomFormCache cache;
  return cache;
}

std::size_t magnitude_bytes(std::uint64_t m) {
  return m == 0 ? 0 : static_cast<std::size_t>((64 - std::countl_zero(m) + 7) / 8);
}

// Words of the ids a resource is encoded with: a local reference (nonode@nohost,
// creation 0) whose first word keeps within the 18 bits the BEAM accepts and
// whose last word carries a marker no make_unique_ref() reference has.
void resource_ref_ids(Term t, std::uint32_t ids[3]) {
  auto a = reinterpret_cast<std::uintptr_t>(resource_object(t));
  std::uint64_t v = static_cast<std::uint64_t>(a);
  ids[0] = static_cast<std::uint32_t>(v & 0x3FFFF);
  ids[1] = static_cast<std::uint32_t>(v >> 18);
  ids[2] = 0x4E480000u | static_cast<std::uint32_t>((v >> 50) & 0xFFFF);
}

struct SizeSink {
  std::size_t n = 0;
  void byte(std::uint8_t) { n += 1; }
  void u16(std::uint32_t) { n += 2; }
  void u32(std::uint32_t) { n += 4; }
  void u64(std::uint64_t) { n += 8; }
  void raw(const std::uint8_t*, std::size_t k) { n += k; }
  void atom_text(const AtomForm& f) { n += f.length; }
  void le_bytes(const std::uint64_t*, std::size_t k) { n += k; }
  void string_bytes(Term, std::size_t k) { n += k; }
  void last_bits(std::uint8_t, unsigned) { n += 1; }
  void extension(const EtfExtension&, Term, std::size_t k) { n += k; }
};

tl::expected<std::size_t, EtfError> body_size(Term t, const EtfExtension* ext);

// Appends to a vector through a small buffer: the vector is never zero-filled
// before it is written (resize() would), large binaries are copied once,
// straight from their bytes, and an encoding that fits the buffer costs a
// single allocation of its exact size.
class AppendSink {
 public:
  // `lead` bytes written before the term's own (the version byte) count toward the total.
  AppendSink(std::vector<std::uint8_t>& out, Term root, const EtfExtension* ext, std::size_t lead)
      : out_(out), root_(root), ext_(ext), base_(out.size() + lead) {}
  AppendSink(const AppendSink&) = delete;
  AppendSink& operator=(const AppendSink&) = delete;

  [[gnu::always_inline]] void byte(std::uint8_t v) {
    room(1);
    buf_[n_++] = v;
  }
  [[gnu::always_inline]] void u16(std::uint32_t v) {
    room(2);
    put16(buf_ + n_, v);
    n_ += 2;
  }
  [[gnu::always_inline]] void u32(std::uint32_t v) {
    room(4);
    put32(buf_ + n_, v);
    n_ += 4;
  }
  [[gnu::always_inline]] void u64(std::uint64_t v) {
    room(8);
    put64(buf_ + n_, v);
    n_ += 8;
  }
  void raw(const std::uint8_t* src, std::size_t k) {
    if (k <= kDirect) {
      room(k);
      if (k) std::memcpy(buf_ + n_, src, k);
      n_ += k;
      return;
    }
    flush(k);
    out_.insert(out_.end(), src, src + k);
  }
  void atom_text(const AtomForm& f) {
    const auto* b = reinterpret_cast<const std::uint8_t*>(f.utf8.data());
    if (!f.convert) {
      raw(b, f.utf8.size());
      return;
    }
    room(f.length);
    for (std::size_t i = 0; i < f.utf8.size(); ++i) {
      std::uint8_t c = b[i];
      if (c < 0x80) {
        buf_[n_++] = c;
      } else {
        buf_[n_++] = static_cast<std::uint8_t>(((c & 0x03u) << 6) | (b[i + 1] & 0x3Fu));
        ++i;
      }
    }
  }
  // k bytes of a little-endian magnitude held in 64-bit digits.
  void le_bytes(const std::uint64_t* digits, std::size_t k) {
    if constexpr (std::endian::native == std::endian::little) {
      raw(reinterpret_cast<const std::uint8_t*>(digits), k);
    } else {
      for (std::size_t i = 0; i < k; ++i)
        byte(static_cast<std::uint8_t>(digits[i / 8] >> (8 * (i % 8))));
    }
  }
  void string_bytes(Term list, std::size_t k) {
    while (k > 0) {
      std::size_t chunk = std::min(k, kBuffer);
      room(chunk);
      for (std::size_t i = 0; i < chunk; ++i) {
        buf_[n_++] = static_cast<std::uint8_t>(small_value(cons_head(list)));
        list = cons_tail(list);
      }
      k -= chunk;
    }
  }
  // The final partial byte of a bitstring, its unused low bits zeroed as OTP does.
  void last_bits(std::uint8_t b, unsigned bits) {
    byte(static_cast<std::uint8_t>(b & (0xFFu << (8 - bits))));
  }
  void extension(const EtfExtension& ext, Term t, std::size_t k) {
    if (k <= kBuffer) {
      room(k);
      ext.encode(t, buf_ + n_);
      n_ += k;
      return;
    }
    flush(k);
    std::size_t at = out_.size();
    out_.resize(at + k);
    ext.encode(t, out_.data() + at);
  }
  void finish() { flush(0); }

 private:
  static constexpr std::size_t kBuffer = 2048;
  static constexpr std::size_t kDirect = 256;

  [[gnu::always_inline]] void room(std::size_t k) {
    if (n_ + k > kBuffer) flush(k);
  }
  // Moves the buffer into the vector; `next` more bytes are about to follow.
  void flush(std::size_t next) {
    std::size_t need = out_.size() + n_ + next;
    if (out_.capacity() < need) {
      if (!sized_ && next > kDirect) {
        // A large binary is coming: size the whole encoding once (a walk that
        // never touches binary bytes) so no byte is copied twice.
        sized_ = true;
        if (auto total = body_size(root_, ext_)) out_.reserve(std::max(need, base_ + *total));
      } else {
        // Many small items: growing geometrically copies less than a size
        // pass costs.
        out_.reserve(std::max(need, 2 * out_.capacity()));
      }
    }
    out_.insert(out_.end(), buf_, buf_ + n_);
    n_ = 0;
  }

  std::vector<std::uint8_t>& out_;
  Term root_;
  const EtfExtension* ext_;
  std::size_t base_;
  bool sized_ = false;
  std::size_t n_ = 0;
  std::uint8_t buf_[kBuffer];
};

template <class Sink>
void emit_atom(Sink& s, Term a, AtomFormCache& cache) {
  const AtomForm& f = cache.get(a);
  s.byte(f.tag);
  if (f.tag == etf_tag::kSmallAtomUtf8)
    s.byte(static_cast<std::uint8_t>(f.length));
  else
    s.u16(static_cast<std::uint32_t>(f.length));
  s.atom_text(f);
}

template <class Sink>
void emit_integer(Sink& s, std::int64_t v) {
  if (v >= 0 && v < 256) {
    s.byte(etf_tag::kSmallInteger);
    s.byte(static_cast<std::uint8_t>(v));
  } else if (v >= INT32_MIN && v <= INT32_MAX) {
    s.byte(etf_tag::kInteger);
    s.u32(static_cast<std::uint32_t>(static_cast<std::int32_t>(v)));
  } else {
    std::uint64_t m = v < 0 ? 0 - static_cast<std::uint64_t>(v) : static_cast<std::uint64_t>(v);
    std::size_t k = magnitude_bytes(m);
    s.byte(etf_tag::kSmallBig);
    s.byte(static_cast<std::uint8_t>(k));
    s.byte(v < 0 ? 1 : 0);
    s.le_bytes(&m, k);
  }
}

template <class Sink>
void emit_pid(Sink& s, AtomFormCache& cache, Term node, std::uint32_t id, std::uint32_t serial,
              std::uint32_t creation) {
  s.byte(etf_tag::kNewPid);
  emit_atom(s, node, cache);
  s.u32(id);
  s.u32(serial);
  s.u32(creation);
}

template <class Sink>
void emit_port(Sink& s, AtomFormCache& cache, const PortView& v) {
  if (v.id > kV3PortMax) {
    s.byte(etf_tag::kV4Port);
    emit_atom(s, v.node, cache);
    s.u64(v.id);
  } else {
    s.byte(etf_tag::kNewPort);
    emit_atom(s, v.node, cache);
    s.u32(static_cast<std::uint32_t>(v.id));
  }
  s.u32(v.creation);
}

template <class Sink>
void emit_ref(Sink& s, AtomFormCache& cache, Term node, std::uint32_t creation,
              const std::uint32_t* ids, std::size_t count) {
  s.byte(etf_tag::kNewerReference);
  s.u16(static_cast<std::uint32_t>(count));
  emit_atom(s, node, cache);
  s.u32(creation);
  for (std::size_t i = 0; i < count; ++i) s.u32(ids[i]);
}

// What is left to encode of a container that has been started.
struct Pending {
  enum Kind : std::uint8_t { kRange, kCons, kPairs };
  Kind kind;
  bool value_next;  // kPairs: the value of the current pair comes next
  std::size_t n;    // kRange: terms left; kPairs: pairs left
  const Term* p;    // kRange: next term; kPairs: next key
  const Term* q;    // kPairs: next value
  Term rest;        // kCons: the rest of the list
};

EtfError unencodable(std::string detail) {
  return make_error(EtfErrc::kUnencodable, 0, std::move(detail));
}

template <class Sink>
tl::expected<void, EtfError> walk(Term root, Sink& s, const EtfExtension* ext) {
  SmallStack<Pending, 32> stack;
  AtomFormCache& atom_cache = atom_form_cache();
  Term cur = root;
  for (;;) {
    switch (primary_tag(cur)) {
      case tag::kImmed1:
        if (is_small(cur)) {
          emit_integer(s, small_value(cur));
        } else if (is_atom(cur)) {
          emit_atom(s, cur, atom_cache);
        } else if (is_nil(cur)) {
          s.byte(etf_tag::kNil);
        } else if (is_local_pid(cur)) {
          emit_pid(s, atom_cache, atoms::kNonode, local_pid_id(cur), local_pid_serial(cur),
                   kLocalCreation);
        } else {
          assert(is_local_port(cur));
          emit_port(s, atom_cache,
                    PortView{atoms::kNonode, local_port_number(cur), kLocalCreation});
        }
        break;
      case tag::kList: {
        // OTP's is_external_string: a proper list of 0..255 up to 65535 long is
        // STRING_EXT; anything else is LIST_EXT of all its cells, then its tail.
        std::size_t len = 0;
        bool bytes = true;
        Term t = cur;
        for (; is_cons(t); t = cons_tail(t)) {
          Term h = cons_head(t);
          if (bytes && !(is_small(h) && static_cast<std::uint64_t>(small_value(h)) < 256))
            bytes = false;
          ++len;
        }
        if (bytes && is_nil(t) && len <= kMaxStringExt) {
          s.byte(etf_tag::kString);
          s.u16(static_cast<std::uint32_t>(len));
          s.string_bytes(cur, len);
          break;
        }
        if (len > UINT32_MAX) return tl::unexpected(unencodable("list longer than 2^32-1"));
        s.byte(etf_tag::kList);
        s.u32(static_cast<std::uint32_t>(len));
        stack.push(Pending{Pending::kCons, false, 0, nullptr, nullptr, cons_tail(cur)});
        cur = cons_head(cur);
        continue;
      }
      case tag::kBoxed: {
        const Term* box = box_ptr(cur);
        switch (header_subtag(box[0])) {
          case Subtag::kTuple: {
            std::size_t n = tuple_arity(cur);
            if (n <= 255) {
              s.byte(etf_tag::kSmallTuple);
              s.byte(static_cast<std::uint8_t>(n));
            } else {
              if (n > UINT32_MAX) return tl::unexpected(unencodable("tuple arity over 2^32-1"));
              s.byte(etf_tag::kLargeTuple);
              s.u32(static_cast<std::uint32_t>(n));
            }
            if (n) {
              stack.push(Pending{Pending::kRange, false, n, tuple_elements(cur), nullptr, 0});
            }
            break;
          }
          case Subtag::kPosBig:
          case Subtag::kNegBig: {
            std::size_t digits = bignum_digit_count(cur);
            const std::uint64_t* d = bignum_digits(cur);
            while (digits > 0 && d[digits - 1] == 0) --digits;  // tolerate unnormalised ones
            bool neg = bignum_negative(cur);
            if (digits <= 1) {
              std::uint64_t m = digits ? d[0] : 0;
              if (m <= (neg ? std::uint64_t{1} << 31 : std::uint64_t{INT32_MAX})) {
                emit_integer(s, neg ? -static_cast<std::int64_t>(m) : static_cast<std::int64_t>(m));
                break;
              }
            }
            std::size_t k = (digits - 1) * 8 + magnitude_bytes(d[digits - 1]);
            if (k < 256) {
              s.byte(etf_tag::kSmallBig);
              s.byte(static_cast<std::uint8_t>(k));
            } else {
              if (k > UINT32_MAX) return tl::unexpected(unencodable("bignum over 2^32-1 bytes"));
              s.byte(etf_tag::kLargeBig);
              s.u32(static_cast<std::uint32_t>(k));
            }
            s.byte(neg ? 1 : 0);
            s.le_bytes(d, k);
            break;
          }
          case Subtag::kFloat:
            s.byte(etf_tag::kNewFloat);
            s.u64(box[1]);
            break;
          case Subtag::kRef: {
            RefView r = ref_view(cur);
            emit_ref(s, atom_cache, r.node, r.creation, r.id, r.count);
            break;
          }
          case Subtag::kFun: {
            auto bytes = fun_bytes(cur);
            s.raw(bytes.data(), bytes.size());
            break;
          }
          case Subtag::kBinary: {
            BitstringView v = bitstring_view(cur);
            if (v.byte_size + (v.trailing_bits ? 1 : 0) > UINT32_MAX)
              return tl::unexpected(unencodable("binary over 2^32-1 bytes"));
            if (v.trailing_bits == 0) {
              s.byte(etf_tag::kBinary);
              s.u32(static_cast<std::uint32_t>(v.byte_size));
              s.raw(v.data, v.byte_size);
            } else {
              s.byte(etf_tag::kBitBinary);
              s.u32(static_cast<std::uint32_t>(v.byte_size + 1));
              s.byte(static_cast<std::uint8_t>(v.trailing_bits));
              s.raw(v.data, v.byte_size);
              s.last_bits(v.data[v.byte_size], v.trailing_bits);
            }
            break;
          }
          case Subtag::kMap: {
            std::size_t n = map_size(cur);
            if (n > UINT32_MAX) return tl::unexpected(unencodable("map over 2^32-1 keys"));
            s.byte(etf_tag::kMap);
            s.u32(static_cast<std::uint32_t>(n));
            if (n) {
              stack.push(Pending{Pending::kPairs, false, n, map_keys(cur), map_values(cur), 0});
            }
            break;
          }
          case Subtag::kExtPid: {
            PidView v = pid_view(cur);
            emit_pid(s, atom_cache, v.node, v.id, v.serial, v.creation);
            break;
          }
          case Subtag::kExtPort:
            emit_port(s, atom_cache, port_view(cur));
            break;
          case Subtag::kResource: {
            if (ext) {
              if (auto k = ext->encoded_size(cur)) {
                s.extension(*ext, cur, *k);
                break;
              }
            }
            std::uint32_t ids[3];
            resource_ref_ids(cur, ids);
            emit_ref(s, atom_cache, atoms::kNonode, kLocalCreation, ids, 3);
            break;
          }
          case Subtag::kHandle: {
            if (ext) {
              if (auto k = ext->encoded_size(cur)) {
                s.extension(*ext, cur, *k);
                break;
              }
            }
            return tl::unexpected(unencodable(
                "a remote resource handle has no standard encoding (needs an EtfExtension)"));
          }
        }
        break;
      }
      default:
        assert(false && "not a valid term");
        return tl::unexpected(unencodable("not a valid term"));
    }

    // Next term: the next element of the innermost unfinished container.
    if (stack.empty()) return {};
    Pending& w = stack.back();
    switch (w.kind) {
      case Pending::kRange:
        cur = *w.p++;
        if (--w.n == 0) stack.pop();
        break;
      case Pending::kCons:
        if (is_cons(w.rest)) {
          cur = cons_head(w.rest);
          w.rest = cons_tail(w.rest);
        } else {
          cur = w.rest;  // the tail: nil or the improper tail
          stack.pop();
        }
        break;
      case Pending::kPairs:
        if (!w.value_next) {
          cur = *w.p++;
          w.value_next = true;
        } else {
          cur = *w.q++;
          w.value_next = false;
          if (--w.n == 0) stack.pop();
        }
        break;
    }
  }
}

tl::expected<std::size_t, EtfError> body_size(Term t, const EtfExtension* ext) {
  SizeSink s;
  auto r = walk(t, s, ext);
  if (!r) return tl::unexpected(r.error());
  return s.n;
}

// Appends the body of t to out, after the version byte if `version`.
tl::expected<void, EtfError> write_body(Term t, std::vector<std::uint8_t>& out,
                                        const EtfExtension* ext, bool version) {
  AppendSink sink(out, t, ext, version ? 1 : 0);
  if (version) sink.byte(kEtfVersion);
  auto r = walk(t, sink, ext);
  if (!r) return r;
  sink.finish();
  return {};
}

// term_to_binary(T, [{compressed, Level}]): the zlib stream replaces the body
// only when it is at most body - 5 bytes, else the plain encoding stands.
// Returns false (and leaves out alone) when compression does not pay.
bool compress_body(const std::uint8_t* body, std::size_t size, int level,
                   std::vector<std::uint8_t>& out) {
  if (size < 6 || size > UINT32_MAX) return false;
  uLongf room = static_cast<uLongf>(size - 5);
  std::size_t start = out.size();
  out.resize(start + 6 + room);
  uLongf produced = room;
  int rc = compress2(out.data() + start + 6, &produced, body, static_cast<uLong>(size), level);
  if (rc != Z_OK) {
    out.resize(start);
    return false;
  }
  out[start] = kEtfVersion;
  out[start + 1] = etf_tag::kCompressed;
  put32(out.data() + start + 2, static_cast<std::uint32_t>(size));
  out.resize(start + 6 + produced);
  return true;
}

}  // namespace

namespace etf_detail {
tl::expected<void, EtfError> append_body(Term t, std::vector<std::uint8_t>& out,
                                         const EtfExtension* extension) {
  std::size_t start = out.size();
  auto r = write_body(t, out, extension, false);
  if (!r) out.resize(start);
  return r;
}
}  // namespace etf_detail

tl::expected<std::size_t, EtfError> encoded_size(Term t, const EncodeOptions& options) {
  auto n = body_size(t, options.extension);
  if (!n) return tl::unexpected(n.error());
  return 1 + *n;
}

tl::expected<std::size_t, EtfError> encode_append(Term t, std::vector<std::uint8_t>& out,
                                                  const EncodeOptions& options) {
  if (options.compression < 0 || options.compression > 9)
    return tl::unexpected(
        unencodable(fmt::format("compression level {} (use 0..9)", options.compression)));
  std::size_t start = out.size();
  try {
    if (options.compression > 0) {
      std::vector<std::uint8_t> body;
      auto r = write_body(t, body, options.extension, false);
      if (!r) return tl::unexpected(r.error());
      if (!compress_body(body.data(), body.size(), options.compression, out)) {
        out.reserve(start + 1 + body.size());
        out.push_back(kEtfVersion);
        out.insert(out.end(), body.begin(), body.end());
      }
      return out.size() - start;
    }
    auto r = write_body(t, out, options.extension, true);
    if (!r) {
      out.resize(start);
      return tl::unexpected(r.error());
    }
  } catch (const std::bad_alloc&) {
    out.resize(start);
    return tl::unexpected(make_error(EtfErrc::kOutOfMemory, 0, "no memory for the encoding"));
  }
  return out.size() - start;
}

tl::expected<std::vector<std::uint8_t>, EtfError> encode(Term t, const EncodeOptions& options) {
  std::vector<std::uint8_t> out;
  auto r = encode_append(t, out, options);
  if (!r) return tl::unexpected(r.error());
  return out;
}

}  // namespace nifhost::core
