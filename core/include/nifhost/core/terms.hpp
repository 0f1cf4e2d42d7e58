#pragma once
// nifhost/core/terms.hpp — building terms on a heap and reading them back.
//
// Builders allocate on the given heap and return the term; the caller's
// arguments must already be valid terms. Readers take any valid term.
//
//   Heap heap;
//   Term t = make_tuple(heap, {atoms::kOk, make_integer(heap, 1) });
//   for (Term x : ListRange(list)) ...
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string_view>

#include "nifhost/core/heap.hpp"
#include "nifhost/core/offheap.hpp"
#include "nifhost/core/term.hpp"

namespace nifhost::core {

// The identity of the node nifhost terms belong to: nonode@nohost, creation 0,
// as in a non-distributed `erl`.
inline constexpr std::uint32_t kLocalCreation = 0;

// ---------------------------------------------------------------- numbers
Term make_integer(Heap& heap, std::int64_t v);
Term make_unsigned(Heap& heap, std::uint64_t v);
// Magnitude as little-endian 64-bit digits; normalises (small when it fits).
Term make_bignum(Heap& heap, bool negative, std::span<const std::uint64_t> magnitude);
// Caller guarantees v is finite (Erlang has no NaN or infinity).
Term make_float(Heap& heap, double v);
// Integer value if it fits.
std::optional<std::int64_t> integer_to_int64(Term t);
std::optional<std::uint64_t> integer_to_uint64(Term t);
// Value of any number as a double (bignums rounded to nearest; may be inf).
double number_to_double(Term t);

// ---------------------------------------------------------------- tuples and lists
Term make_tuple(Heap& heap, std::span<const Term> elements);
Term make_tuple(Heap& heap, std::initializer_list<Term> elements);
// Allocates a tuple of n elements for the caller to fill (initialised to nil).
Term* alloc_tuple(Heap& heap, std::size_t n, Term& out);
Term make_cons(Heap& heap, Term head, Term tail);
Term make_list(Heap& heap, std::span<const Term> elements, Term tail = kNilTerm);
Term make_list(Heap& heap, std::initializer_list<Term> elements);
// A string as a list of character codes (Unicode code points from UTF-8, or bytes).
Term make_char_list(Heap& heap, std::span<const std::uint8_t> bytes);

// Proper-list length, or nullopt for an improper list or a non-list.
std::optional<std::size_t> list_length(Term t);

// Iterates the cons cells of a list; tail() is what is left when it stops
// (nil for a proper list).
class ListRange {
 public:
  explicit ListRange(Term list) : list_(list) {}
  class Iterator {
   public:
    explicit Iterator(Term cur) : cur_(cur) {}
    Term operator*() const { return cons_head(cur_); }
    Iterator& operator++() {
      cur_ = cons_tail(cur_);
      return *this;
    }
    bool operator!=(const Iterator&) const { return is_cons(cur_); }

   private:
    Term cur_;
  };
  Iterator begin() const { return Iterator(list_); }
  Iterator end() const { return Iterator(list_); }
  Term tail() const;

 private:
  Term list_;
};

// ---------------------------------------------------------------- binaries
// Binaries up to this size live on the heap; larger ones are refc binaries.
inline constexpr std::size_t kHeapBinaryMax = 64;

struct BitstringView {
  const std::uint8_t* data;
  std::size_t byte_size;   // complete bytes
  unsigned trailing_bits;  // bits in a final partial byte (0..7)
  OffHeapObject* owner;    // refc binary holding the bytes, or nullptr
  bool is_binary() const { return trailing_bits == 0; }
  std::size_t bit_size() const { return byte_size * 8 + trailing_bits; }
  std::span<const std::uint8_t> bytes() const { return {data, byte_size}; }
};
BitstringView bitstring_view(Term t);

// Copies bytes into a new binary (heap or refc by size). nullopt on out-of-memory.
std::optional<Term> make_binary(Heap& heap, std::span<const std::uint8_t> bytes);
Term make_binary(Heap& heap, std::string_view bytes);
// A bitstring of byte_size whole bytes plus trailing_bits (1..7) in one more byte.
std::optional<Term> make_bitstring(Heap& heap, std::span<const std::uint8_t> bytes,
                                   std::size_t byte_size, unsigned trailing_bits);
// Wraps [data, data+size) owned by `owner`; takes one new reference on owner.
Term make_binary_view(Heap& heap, OffHeapObject* owner, const std::uint8_t* data, std::size_t size,
                      unsigned trailing_bits = 0);
// Takes over the caller's reference to a refc binary.
Term make_refc_binary(Heap& heap, RefcBinary* bin, std::size_t size);
// A sub-binary sharing the bytes of `bin` (enif_make_sub_binary). Caller checks bounds.
Term make_sub_binary(Heap& heap, Term bin, std::size_t offset, std::size_t size);

// ---------------------------------------------------------------- maps
// Builds a map; nullopt if two keys are identical (=:=). Order per order.hpp.
std::optional<Term> make_map(Heap& heap, std::span<const Term> keys, std::span<const Term> values);
Term make_empty_map(Heap& heap);
// Value for key (matched with =:=).
std::optional<Term> map_get(Term map, Term key);
// New map with key set to value (enif_make_map_put / update semantics).
Term map_put(Heap& heap, Term map, Term key, Term value);
// New map without key (returns map itself when absent).
Term map_remove(Heap& heap, Term map, Term key);

// ---------------------------------------------------------------- pids, ports, refs, funs
struct PidView {
  Term node;
  std::uint32_t id;
  std::uint32_t serial;
  std::uint32_t creation;
};
PidView pid_view(Term t);
// Local when node is nonode@nohost with creation 0 and serial fits, else external.
Term make_pid(Heap& heap, Term node, std::uint32_t id, std::uint32_t serial,
              std::uint32_t creation);

struct PortView {
  Term node;
  std::uint64_t id;
  std::uint32_t creation;
};
PortView port_view(Term t);
Term make_port(Heap& heap, Term node, std::uint64_t id, std::uint32_t creation);

struct RefView {
  Term node;
  std::uint32_t creation;
  std::size_t count;  // number of 32-bit id words (1..5)
  std::uint32_t id[5];
};
// For kRef terms only (resources and handles are encoded by their owners).
RefView ref_view(Term t);
Term make_ref(Heap& heap, Term node, std::uint32_t creation, std::span<const std::uint32_t> ids);
// A new unique local reference (like make_ref/0).
Term make_unique_ref(Heap& heap);

// An opaque fun: the bytes of its ETF encoding (tag included).
Term make_fun(Heap& heap, std::span<const std::uint8_t> etf_bytes);
std::span<const std::uint8_t> fun_bytes(Term t);

// Resource terms (kResource): a pointer to the resource object, kept alive by the heap.
Term make_resource_term(Heap& heap, OffHeapObject* resource);
OffHeapObject* resource_object(Term t);

// Remote resource handles (kHandle): what an isolated backend hands the host.
// The term points at the RemoteResource, kept alive by the heap.
Term make_handle_term(Heap& heap, RemoteResource* handle);
RemoteResource* handle_object(Term t);

// ---------------------------------------------------------------- copying
// Words needed to copy t onto another heap.
std::size_t flat_size(Term t);
// Deep copy onto `to`; off-heap objects are shared by reference.
Term copy_term(Heap& to, Term t);

}  // namespace nifhost::core
