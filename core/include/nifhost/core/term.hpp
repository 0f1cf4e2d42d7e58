#pragma once
// nifhost/core/term.hpp — ERL_NIF_TERM as a tagged 64-bit word, as in the BEAM.
//
// A term is self-describing: immediates carry their value in the word, and
// boxed terms and cons cells point (tagged) at words on some env's heap. This
// is what lets enif_compare/enif_hash/enif_make_copy work without an env and
// lets an ErlNifPid's word be valid in every env.
//
//   Term t = make_small(42);            // immediate
//   if (is_small(t)) use(small_value(t));
//
// Layout (low bits of the word):
//   ..00  header word (only on a heap, never a term value)
//   ..01  list: pointer to a cons cell [head, tail]
//   ..10  boxed: pointer to a header word followed by `arity` payload words
//   0011  local pid     payload = id (bits 0..31) | serial (bits 32..59)
//   0111  local port    payload = port number (60 bits)
//   1111  small integer payload = signed 60-bit value
//   001011 atom         payload = atom index
//   111011 nil []
// Header word: arity << 6 | subtag << 2 | 00, arity = payload words.
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace nifhost::core {

using Term = unsigned long;  // the same type as ERL_NIF_TERM on LP64
static_assert(sizeof(Term) == 8, "nifhost needs a 64-bit word");

namespace tag {
inline constexpr Term kPrimaryMask = 0x3;
inline constexpr Term kHeader = 0x0;
inline constexpr Term kList = 0x1;
inline constexpr Term kBoxed = 0x2;
inline constexpr Term kImmed1 = 0x3;

inline constexpr Term kImmed1Mask = 0xF;
inline constexpr Term kPid = 0x3;
inline constexpr Term kPort = 0x7;
inline constexpr Term kImmed2 = 0xB;
inline constexpr Term kSmall = 0xF;

inline constexpr Term kImmed2Mask = 0x3F;
inline constexpr Term kAtom = 0x0B;
inline constexpr Term kNil = 0x3B;
}  // namespace tag

// Boxed object kinds (4 bits in the header word).
enum class Subtag : unsigned {
  kTuple = 0,      // [hdr arity=n] elements...
  kPosBig = 1,     // [hdr arity=n] n little-endian 64-bit magnitude digits
  kNegBig = 2,     //   (normalised: top digit != 0, never fits a small)
  kFloat = 3,      // [hdr arity=1] IEEE-754 bits (never NaN or infinity)
  kRef = 4,        // [hdr] node-atom, creation, n, id[0..n-1] (one uint32 per word)
  kFun = 5,        // [hdr] byte length, ETF bytes of the fun (opaque)
  kBinary = 6,     // [hdr] byte size, trailing bits, data*, owner*, inline data...
  kMap = 7,        // [hdr] n, keys[n], values[n] in the BEAM's iteration order
  kExtPid = 8,     // [hdr] node-atom, id, serial, creation
  kExtPort = 9,    // [hdr] node-atom, id, creation
  kResource = 10,  // [hdr] Resource* (in-process resource object)
  kHandle = 11,    // [hdr] RemoteResource* (a resource living in an isolated worker)
};

// What a term is, in Erlang's own classification (and term-order rank).
enum class Kind : unsigned {
  kInteger,  // small or bignum
  kFloat,
  kAtom,
  kReference,  // includes resources and remote resource handles
  kFun,
  kPort,
  kPid,
  kTuple,
  kMap,
  kNil,
  kList,  // non-empty list (cons)
  kBitstring,
};

// ---------------------------------------------------------------- words
constexpr Term primary_tag(Term t) { return t & tag::kPrimaryMask; }
constexpr bool is_immediate(Term t) { return primary_tag(t) == tag::kImmed1; }
constexpr bool is_boxed(Term t) { return primary_tag(t) == tag::kBoxed; }
constexpr bool is_cons(Term t) { return primary_tag(t) == tag::kList; }
constexpr bool is_nil(Term t) { return t == tag::kNil; }
constexpr bool is_small(Term t) { return (t & tag::kImmed1Mask) == tag::kSmall; }
constexpr bool is_atom(Term t) { return (t & tag::kImmed2Mask) == tag::kAtom; }
constexpr bool is_local_pid(Term t) { return (t & tag::kImmed1Mask) == tag::kPid; }
constexpr bool is_local_port(Term t) { return (t & tag::kImmed1Mask) == tag::kPort; }

inline constexpr std::int64_t kSmallMax = (std::int64_t{1} << 59) - 1;
inline constexpr std::int64_t kSmallMin = -(std::int64_t{1} << 59);
constexpr bool fits_small(std::int64_t v) { return v >= kSmallMin && v <= kSmallMax; }
constexpr Term make_small(std::int64_t v) { return (static_cast<Term>(v) << 4) | tag::kSmall; }
constexpr std::int64_t small_value(Term t) { return static_cast<std::int64_t>(t) >> 4; }

constexpr Term make_atom_term(std::uint32_t index) {
  return (static_cast<Term>(index) << 6) | tag::kAtom;
}
constexpr std::uint32_t atom_index(Term t) { return static_cast<std::uint32_t>(t >> 6); }

inline constexpr Term kNilTerm = tag::kNil;

inline constexpr std::uint64_t kLocalPidSerialMax = (std::uint64_t{1} << 28) - 1;
constexpr Term make_local_pid(std::uint32_t id, std::uint32_t serial) {
  return (((static_cast<Term>(serial) << 32) | id) << 4) | tag::kPid;
}
constexpr std::uint32_t local_pid_id(Term t) { return static_cast<std::uint32_t>(t >> 4); }
constexpr std::uint32_t local_pid_serial(Term t) { return static_cast<std::uint32_t>(t >> 36); }

inline constexpr std::uint64_t kLocalPortMax = (std::uint64_t{1} << 60) - 1;
constexpr Term make_local_port(std::uint64_t number) { return (number << 4) | tag::kPort; }
constexpr std::uint64_t local_port_number(Term t) { return t >> 4; }

// ---------------------------------------------------------------- boxes
constexpr Term make_header(Subtag s, std::size_t arity) {
  return (static_cast<Term>(arity) << 6) | (static_cast<Term>(s) << 2) | tag::kHeader;
}
constexpr Subtag header_subtag(Term hdr) { return static_cast<Subtag>((hdr >> 2) & 0xF); }
constexpr std::size_t header_arity(Term hdr) { return static_cast<std::size_t>(hdr >> 6); }

inline Term* box_ptr(Term t) { return reinterpret_cast<Term*>(t - tag::kBoxed); }
inline Term make_boxed(const Term* p) { return reinterpret_cast<Term>(p) | tag::kBoxed; }
inline Subtag box_subtag(Term t) { return header_subtag(*box_ptr(t)); }
inline std::size_t box_arity(Term t) { return header_arity(*box_ptr(t)); }
inline bool is_boxed_of(Term t, Subtag s) { return is_boxed(t) && box_subtag(t) == s; }

inline Term* cons_ptr(Term t) { return reinterpret_cast<Term*>(t - tag::kList); }
inline Term make_cons_term(const Term* cell) { return reinterpret_cast<Term>(cell) | tag::kList; }
inline Term cons_head(Term t) { return cons_ptr(t)[0]; }
inline Term cons_tail(Term t) { return cons_ptr(t)[1]; }

inline bool is_tuple(Term t) { return is_boxed_of(t, Subtag::kTuple); }
inline bool is_bignum(Term t) {
  return is_boxed(t) && (box_subtag(t) == Subtag::kPosBig || box_subtag(t) == Subtag::kNegBig);
}
inline bool is_integer(Term t) { return is_small(t) || is_bignum(t); }
inline bool is_float(Term t) { return is_boxed_of(t, Subtag::kFloat); }
inline bool is_number(Term t) { return is_integer(t) || is_float(t); }
inline bool is_bitstring(Term t) { return is_boxed_of(t, Subtag::kBinary); }
inline bool is_map(Term t) { return is_boxed_of(t, Subtag::kMap); }
inline bool is_fun(Term t) { return is_boxed_of(t, Subtag::kFun); }
inline bool is_list(Term t) { return is_nil(t) || is_cons(t); }
inline bool is_pid(Term t) { return is_local_pid(t) || is_boxed_of(t, Subtag::kExtPid); }
inline bool is_port(Term t) { return is_local_port(t) || is_boxed_of(t, Subtag::kExtPort); }
inline bool is_reference(Term t) {
  return is_boxed(t) && (box_subtag(t) == Subtag::kRef || box_subtag(t) == Subtag::kResource ||
                         box_subtag(t) == Subtag::kHandle);
}

inline double float_value(Term t) { return std::bit_cast<double>(box_ptr(t)[1]); }

// Tuples
inline std::size_t tuple_arity(Term t) { return box_arity(t); }
inline const Term* tuple_elements(Term t) { return box_ptr(t) + 1; }

// Bignums
inline bool bignum_negative(Term t) { return box_subtag(t) == Subtag::kNegBig; }
inline std::size_t bignum_digit_count(Term t) { return box_arity(t); }
inline const std::uint64_t* bignum_digits(Term t) {
  return reinterpret_cast<const std::uint64_t*>(box_ptr(t) + 1);
}

// Maps: keys and values in the BEAM's iteration order (see order.hpp).
inline std::size_t map_size(Term t) { return static_cast<std::size_t>(box_ptr(t)[1]); }
inline const Term* map_keys(Term t) { return box_ptr(t) + 2; }
inline const Term* map_values(Term t) { return box_ptr(t) + 2 + map_size(t); }

// Kind of any valid term.
Kind kind_of(Term t);
const char* kind_name(Kind k);

}  // namespace nifhost::core
