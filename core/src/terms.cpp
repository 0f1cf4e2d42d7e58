#include "nifhost/core/terms.hpp"

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cmath>
#include <cstring>
#include <vector>

#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/order.hpp"

namespace nifhost::core {

// ---------------------------------------------------------------- kinds
Kind kind_of(Term t) {
  switch (primary_tag(t)) {
    case tag::kList:
      return Kind::kList;
    case tag::kBoxed:
      switch (box_subtag(t)) {
        case Subtag::kTuple:
          return Kind::kTuple;
        case Subtag::kPosBig:
        case Subtag::kNegBig:
          return Kind::kInteger;
        case Subtag::kFloat:
          return Kind::kFloat;
        case Subtag::kRef:
        case Subtag::kResource:
        case Subtag::kHandle:
          return Kind::kReference;
        case Subtag::kFun:
          return Kind::kFun;
        case Subtag::kBinary:
          return Kind::kBitstring;
        case Subtag::kMap:
          return Kind::kMap;
        case Subtag::kExtPid:
          return Kind::kPid;
        case Subtag::kExtPort:
          return Kind::kPort;
      }
      break;
    case tag::kImmed1:
      if (is_small(t)) return Kind::kInteger;
      if (is_local_pid(t)) return Kind::kPid;
      if (is_local_port(t)) return Kind::kPort;
      if (is_atom(t)) return Kind::kAtom;
      if (is_nil(t)) return Kind::kNil;
      break;
    default:
      break;
  }
  assert(false && "not a valid term");
  return Kind::kNil;
}

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kInteger:
      return "integer";
    case Kind::kFloat:
      return "float";
    case Kind::kAtom:
      return "atom";
    case Kind::kReference:
      return "reference";
    case Kind::kFun:
      return "fun";
    case Kind::kPort:
      return "port";
    case Kind::kPid:
      return "pid";
    case Kind::kTuple:
      return "tuple";
    case Kind::kMap:
      return "map";
    case Kind::kNil:
      return "nil";
    case Kind::kList:
      return "list";
    case Kind::kBitstring:
      return "bitstring";
  }
  return "?";
}

// ---------------------------------------------------------------- numbers
Term make_integer(Heap& heap, std::int64_t v) {
  if (fits_small(v)) return make_small(v);
  std::uint64_t mag = v < 0 ? 0 - static_cast<std::uint64_t>(v) : static_cast<std::uint64_t>(v);
  return make_bignum(heap, v < 0, {&mag, 1});
}

Term make_unsigned(Heap& heap, std::uint64_t v) {
  if (v <= static_cast<std::uint64_t>(kSmallMax)) return make_small(static_cast<std::int64_t>(v));
  return make_bignum(heap, false, {&v, 1});
}

Term make_bignum(Heap& heap, bool negative, std::span<const std::uint64_t> magnitude) {
  std::size_t n = magnitude.size();
  while (n > 0 && magnitude[n - 1] == 0) --n;
  if (n == 0) return make_small(0);
  if (n == 1) {
    std::uint64_t m = magnitude[0];
    if (!negative && m <= static_cast<std::uint64_t>(kSmallMax))
      return make_small(static_cast<std::int64_t>(m));
    if (negative && m <= static_cast<std::uint64_t>(kSmallMax) + 1)
      return make_small(-static_cast<std::int64_t>(m - 1) - 1);
  }
  Term* p = heap.allocate_words(1 + n);
  p[0] = make_header(negative ? Subtag::kNegBig : Subtag::kPosBig, n);
  std::memcpy(p + 1, magnitude.data(), n * sizeof(std::uint64_t));
  return make_boxed(p);
}

Term make_float(Heap& heap, double v) {
  assert(std::isfinite(v));
  Term* p = heap.allocate_words(2);
  p[0] = make_header(Subtag::kFloat, 1);
  p[1] = std::bit_cast<Term>(v);
  return make_boxed(p);
}

std::optional<std::int64_t> integer_to_int64(Term t) {
  if (is_small(t)) return small_value(t);
  if (!is_bignum(t) || bignum_digit_count(t) != 1) return std::nullopt;
  std::uint64_t m = bignum_digits(t)[0];
  if (bignum_negative(t)) {
    if (m > (std::uint64_t{1} << 63)) return std::nullopt;
    return static_cast<std::int64_t>(0 - m);
  }
  if (m > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
  return static_cast<std::int64_t>(m);
}

std::optional<std::uint64_t> integer_to_uint64(Term t) {
  if (is_small(t)) {
    if (small_value(t) < 0) return std::nullopt;
    return static_cast<std::uint64_t>(small_value(t));
  }
  if (!is_bignum(t) || bignum_negative(t) || bignum_digit_count(t) != 1) return std::nullopt;
  return bignum_digits(t)[0];
}

double number_to_double(Term t) {
  if (is_small(t)) return static_cast<double>(small_value(t));
  if (is_float(t)) return float_value(t);
  assert(is_bignum(t));
  double d = 0.0;
  const std::uint64_t* digits = bignum_digits(t);
  for (std::size_t i = bignum_digit_count(t); i-- > 0;)
    d = d * 18446744073709551616.0 + static_cast<double>(digits[i]);
  return bignum_negative(t) ? -d : d;
}

// ---------------------------------------------------------------- tuples and lists
Term* alloc_tuple(Heap& heap, std::size_t n, Term& out) {
  Term* p = heap.allocate_words(1 + n);
  p[0] = make_header(Subtag::kTuple, n);
  std::fill(p + 1, p + 1 + n, kNilTerm);
  out = make_boxed(p);
  return p + 1;
}

Term make_tuple(Heap& heap, std::span<const Term> elements) {
  Term out;
  Term* e = alloc_tuple(heap, elements.size(), out);
  std::copy(elements.begin(), elements.end(), e);
  return out;
}

Term make_tuple(Heap& heap, std::initializer_list<Term> elements) {
  return make_tuple(heap, std::span<const Term>(elements.begin(), elements.size()));
}

Term make_cons(Heap& heap, Term head, Term tail) {
  Term* c = heap.allocate_words(2);
  c[0] = head;
  c[1] = tail;
  return make_cons_term(c);
}

Term make_list(Heap& heap, std::span<const Term> elements, Term tail) {
  if (elements.empty()) return tail;
  Term* cells = heap.allocate_words(2 * elements.size());
  for (std::size_t i = 0; i < elements.size(); ++i) {
    cells[2 * i] = elements[i];
    cells[2 * i + 1] = i + 1 < elements.size() ? make_cons_term(cells + 2 * (i + 1)) : tail;
  }
  return make_cons_term(cells);
}

Term make_list(Heap& heap, std::initializer_list<Term> elements) {
  return make_list(heap, std::span<const Term>(elements.begin(), elements.size()));
}

Term make_char_list(Heap& heap, std::span<const std::uint8_t> bytes) {
  std::vector<Term> chars;
  chars.reserve(bytes.size());
  std::string_view s(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (utf8_length(s) >= 0) {
    for (std::size_t i = 0; i < bytes.size();) {
      unsigned c = bytes[i];
      std::size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
      std::uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
      for (std::size_t k = 1; k < n; ++k) cp = (cp << 6) | (bytes[i + k] & 0x3Fu);
      chars.push_back(make_small(cp));
      i += n;
    }
  } else {
    for (std::uint8_t b : bytes) chars.push_back(make_small(b));
  }
  return make_list(heap, chars);
}

std::optional<std::size_t> list_length(Term t) {
  std::size_t n = 0;
  while (is_cons(t)) {
    ++n;
    t = cons_tail(t);
  }
  if (!is_nil(t)) return std::nullopt;
  return n;
}

Term ListRange::tail() const {
  Term t = list_;
  while (is_cons(t)) t = cons_tail(t);
  return t;
}

// ---------------------------------------------------------------- binaries
// Layout: [hdr][byte_size][trailing_bits][data*][owner*] + inline bytes.
namespace {
constexpr std::size_t kBinFixed = 4;
std::size_t words_for_bytes(std::size_t n) { return (n + 7) / 8; }
}  // namespace

BitstringView bitstring_view(Term t) {
  const Term* p = box_ptr(t);
  return BitstringView{reinterpret_cast<const std::uint8_t*>(p[3]), static_cast<std::size_t>(p[1]),
                       static_cast<unsigned>(p[2]), reinterpret_cast<OffHeapObject*>(p[4])};
}

static Term make_inline_bits(Heap& heap, std::span<const std::uint8_t> bytes, std::size_t byte_size,
                             unsigned trailing_bits) {
  std::size_t total = byte_size + (trailing_bits ? 1 : 0);
  std::size_t w = words_for_bytes(total);
  Term* p = heap.allocate_words(1 + kBinFixed + w);
  p[0] = make_header(Subtag::kBinary, kBinFixed + w);
  p[1] = byte_size;
  p[2] = trailing_bits;
  auto* data = reinterpret_cast<std::uint8_t*>(p + 1 + kBinFixed);
  if (w) p[kBinFixed + w] = 0;  // zero the padding of the last word
  if (total) std::memcpy(data, bytes.data(), total);
  p[3] = reinterpret_cast<Term>(data);
  p[4] = 0;
  return make_boxed(p);
}

std::optional<Term> make_bitstring(Heap& heap, std::span<const std::uint8_t> bytes,
                                   std::size_t byte_size, unsigned trailing_bits) {
  assert(trailing_bits < 8);
  std::size_t total = byte_size + (trailing_bits ? 1 : 0);
  assert(bytes.size() >= total);
  if (total <= kHeapBinaryMax) return make_inline_bits(heap, bytes, byte_size, trailing_bits);
  RefcBinary* b = RefcBinary::create(total);
  if (b == nullptr) return std::nullopt;
  std::memcpy(b->data(), bytes.data(), total);
  Term out = make_binary_view(heap, b, b->data(), byte_size, trailing_bits);
  b->release();  // the view holds its own reference
  return out;
}

std::optional<Term> make_binary(Heap& heap, std::span<const std::uint8_t> bytes) {
  return make_bitstring(heap, bytes, bytes.size(), 0);
}

Term make_binary(Heap& heap, std::string_view bytes) {
  auto t =
      make_binary(heap, std::span<const std::uint8_t>(
                            reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
  if (!t) throw std::bad_alloc();
  return *t;
}

Term make_binary_view(Heap& heap, OffHeapObject* owner, const std::uint8_t* data, std::size_t size,
                      unsigned trailing_bits) {
  Term* p = heap.allocate_words(1 + kBinFixed);
  p[0] = make_header(Subtag::kBinary, kBinFixed);
  p[1] = size;
  p[2] = trailing_bits;
  p[3] = reinterpret_cast<Term>(data);
  p[4] = reinterpret_cast<Term>(owner);
  if (owner != nullptr) {
    owner->acquire();
    heap.keep(owner);
  }
  return make_boxed(p);
}

Term make_refc_binary(Heap& heap, RefcBinary* bin, std::size_t size) {
  assert(size <= bin->size());
  Term t = make_binary_view(heap, bin, bin->data(), size);
  bin->release();  // the caller's reference passes to the heap
  return t;
}

Term make_sub_binary(Heap& heap, Term bin, std::size_t offset, std::size_t size) {
  BitstringView v = bitstring_view(bin);
  assert(offset + size <= v.byte_size);
  if (v.owner == nullptr) {
    // A heap binary's bytes live on its heap, which may be shorter-lived than
    // the sub-binary's heap: copy small slices.
    return make_inline_bits(heap, {v.data + offset, size}, size, 0);
  }
  return make_binary_view(heap, v.owner, v.data + offset, size);
}

// ---------------------------------------------------------------- maps
// Layout: [hdr arity=1+2n][n][keys...][values...]
static Term alloc_map(Heap& heap, std::size_t n, Term*& keys, Term*& values) {
  Term* p = heap.allocate_words(2 + 2 * n);
  p[0] = make_header(Subtag::kMap, 1 + 2 * n);
  p[1] = n;
  keys = p + 2;
  values = p + 2 + n;
  return make_boxed(p);
}

Term make_empty_map(Heap& heap) {
  Term *k, *v;
  return alloc_map(heap, 0, k, v);
}

std::optional<Term> make_map(Heap& heap, std::span<const Term> keys, std::span<const Term> values) {
  assert(keys.size() == values.size());
  std::vector<Term> k(keys.begin(), keys.end());
  std::vector<Term> v(values.begin(), values.end());
  if (!order_map_entries(k, v)) return std::nullopt;
  Term *mk, *mv;
  Term out = alloc_map(heap, k.size(), mk, mv);
  std::copy(k.begin(), k.end(), mk);
  std::copy(v.begin(), v.end(), mv);
  return out;
}

std::optional<Term> map_get(Term map, Term key) {
  auto i = map_find_index(map, key);
  if (!i) return std::nullopt;
  return map_values(map)[*i];
}

Term map_put(Heap& heap, Term map, Term key, Term value) {
  std::size_t n = map_size(map);
  if (auto i = map_find_index(map, key)) {
    Term *mk, *mv;
    Term out = alloc_map(heap, n, mk, mv);
    std::copy(map_keys(map), map_keys(map) + n, mk);
    std::copy(map_values(map), map_values(map) + n, mv);
    mv[*i] = value;
    return out;
  }
  std::vector<Term> k(map_keys(map), map_keys(map) + n);
  std::vector<Term> v(map_values(map), map_values(map) + n);
  k.push_back(key);
  v.push_back(value);
  auto m = make_map(heap, k, v);
  assert(m.has_value());
  return *m;
}

Term map_remove(Heap& heap, Term map, Term key) {
  auto i = map_find_index(map, key);
  if (!i) return map;
  std::size_t n = map_size(map);
  std::vector<Term> k, v;
  for (std::size_t j = 0; j < n; ++j) {
    if (j == *i) continue;
    k.push_back(map_keys(map)[j]);
    v.push_back(map_values(map)[j]);
  }
  auto m = make_map(heap, k, v);
  assert(m.has_value());
  return *m;
}

// ---------------------------------------------------------------- pids, ports, refs
PidView pid_view(Term t) {
  if (is_local_pid(t))
    return {atoms::kNonode, local_pid_id(t), local_pid_serial(t), kLocalCreation};
  const Term* p = box_ptr(t);
  return {p[1], static_cast<std::uint32_t>(p[2]), static_cast<std::uint32_t>(p[3]),
          static_cast<std::uint32_t>(p[4])};
}

Term make_pid(Heap& heap, Term node, std::uint32_t id, std::uint32_t serial,
              std::uint32_t creation) {
  if (node == atoms::kNonode && creation == kLocalCreation && serial <= kLocalPidSerialMax)
    return make_local_pid(id, serial);
  Term* p = heap.allocate_words(5);
  p[0] = make_header(Subtag::kExtPid, 4);
  p[1] = node;
  p[2] = id;
  p[3] = serial;
  p[4] = creation;
  return make_boxed(p);
}

PortView port_view(Term t) {
  if (is_local_port(t)) return {atoms::kNonode, local_port_number(t), kLocalCreation};
  const Term* p = box_ptr(t);
  return {p[1], p[2], static_cast<std::uint32_t>(p[3])};
}

Term make_port(Heap& heap, Term node, std::uint64_t id, std::uint32_t creation) {
  if (node == atoms::kNonode && creation == kLocalCreation && id <= kLocalPortMax)
    return make_local_port(id);
  Term* p = heap.allocate_words(4);
  p[0] = make_header(Subtag::kExtPort, 3);
  p[1] = node;
  p[2] = id;
  p[3] = creation;
  return make_boxed(p);
}

RefView ref_view(Term t) {
  const Term* p = box_ptr(t);
  assert(box_subtag(t) == Subtag::kRef);
  RefView r{p[1], static_cast<std::uint32_t>(p[2]), static_cast<std::size_t>(p[3]), {}};
  for (std::size_t i = 0; i < r.count && i < 5; ++i) r.id[i] = static_cast<std::uint32_t>(p[4 + i]);
  return r;
}

Term make_ref(Heap& heap, Term node, std::uint32_t creation, std::span<const std::uint32_t> ids) {
  assert(!ids.empty() && ids.size() <= 5);
  Term* p = heap.allocate_words(4 + ids.size());
  p[0] = make_header(Subtag::kRef, 3 + ids.size());
  p[1] = node;
  p[2] = creation;
  p[3] = ids.size();
  for (std::size_t i = 0; i < ids.size(); ++i) p[4 + i] = ids[i];
  return make_boxed(p);
}

Term make_unique_ref(Heap& heap) {
  // Like the BEAM: the first id word has 18 significant bits.
  static std::atomic<std::uint64_t> counter{1};
  std::uint64_t c = counter.fetch_add(1, std::memory_order_relaxed);
  std::uint32_t ids[3] = {static_cast<std::uint32_t>(c & 0x3FFFF),
                          static_cast<std::uint32_t>(c >> 18), static_cast<std::uint32_t>(c >> 50)};
  return make_ref(heap, atoms::kNonode, kLocalCreation, ids);
}

Term make_fun(Heap& heap, std::span<const std::uint8_t> etf_bytes) {
  std::size_t w = words_for_bytes(etf_bytes.size());
  Term* p = heap.allocate_words(2 + w);
  p[0] = make_header(Subtag::kFun, 1 + w);
  p[1] = etf_bytes.size();
  if (w) p[1 + w] = 0;
  std::memcpy(p + 2, etf_bytes.data(), etf_bytes.size());
  return make_boxed(p);
}

std::span<const std::uint8_t> fun_bytes(Term t) {
  const Term* p = box_ptr(t);
  return {reinterpret_cast<const std::uint8_t*>(p + 2), static_cast<std::size_t>(p[1])};
}

Term make_resource_term(Heap& heap, OffHeapObject* resource) {
  Term* p = heap.allocate_words(2);
  p[0] = make_header(Subtag::kResource, 1);
  p[1] = reinterpret_cast<Term>(resource);
  resource->acquire();
  heap.keep(resource);
  return make_boxed(p);
}

OffHeapObject* resource_object(Term t) { return reinterpret_cast<OffHeapObject*>(box_ptr(t)[1]); }

Term make_handle_term(Heap& heap, RemoteResource* handle) {
  Term* p = heap.allocate_words(2);
  p[0] = make_header(Subtag::kHandle, 1);
  p[1] = reinterpret_cast<Term>(static_cast<OffHeapObject*>(handle));
  handle->acquire();
  heap.keep(handle);
  return make_boxed(p);
}

RemoteResource* handle_object(Term t) {
  return static_cast<RemoteResource*>(reinterpret_cast<OffHeapObject*>(box_ptr(t)[1]));
}

// ---------------------------------------------------------------- copying
std::size_t flat_size(Term t) {
  std::size_t n = 0;
  for (;;) {
    if (is_cons(t)) {
      n += 2 + flat_size(cons_head(t));
      t = cons_tail(t);
      continue;
    }
    if (!is_boxed(t)) return n;
    std::size_t arity = box_arity(t);
    switch (box_subtag(t)) {
      case Subtag::kTuple: {
        n += 1 + arity;
        const Term* e = tuple_elements(t);
        for (std::size_t i = 0; i < arity; ++i) n += flat_size(e[i]);
        return n;
      }
      case Subtag::kMap: {
        n += 1 + arity;
        std::size_t sz = map_size(t);
        for (std::size_t i = 0; i < sz; ++i)
          n += flat_size(map_keys(t)[i]) + flat_size(map_values(t)[i]);
        return n;
      }
      case Subtag::kBinary: {
        BitstringView v = bitstring_view(t);
        if (v.owner != nullptr) return n + 1 + kBinFixed;
        return n + 1 + kBinFixed + words_for_bytes(v.byte_size + (v.trailing_bits ? 1 : 0));
      }
      default:
        return n + 1 + arity;
    }
  }
}

Term copy_term(Heap& to, Term t) {
  if (is_cons(t)) {
    // Copy the spine iteratively so long lists do not recurse.
    Term first = kNilTerm;
    Term* prev_tail = &first;
    while (is_cons(t)) {
      Term* cell = to.allocate_words(2);
      cell[0] = copy_term(to, cons_head(t));
      cell[1] = kNilTerm;
      *prev_tail = make_cons_term(cell);
      prev_tail = &cell[1];
      t = cons_tail(t);
    }
    *prev_tail = copy_term(to, t);
    return first;
  }
  if (!is_boxed(t)) return t;
  const Term* src = box_ptr(t);
  std::size_t arity = box_arity(t);
  switch (box_subtag(t)) {
    case Subtag::kTuple: {
      Term out;
      Term* e = alloc_tuple(to, arity, out);
      for (std::size_t i = 0; i < arity; ++i) e[i] = copy_term(to, src[1 + i]);
      return out;
    }
    case Subtag::kMap: {
      std::size_t sz = map_size(t);
      Term *mk, *mv;
      Term out = alloc_map(to, sz, mk, mv);
      for (std::size_t i = 0; i < sz; ++i) {
        mk[i] = copy_term(to, map_keys(t)[i]);
        mv[i] = copy_term(to, map_values(t)[i]);
      }
      return out;
    }
    case Subtag::kBinary: {
      BitstringView v = bitstring_view(t);
      if (v.owner != nullptr)
        return make_binary_view(to, v.owner, v.data, v.byte_size, v.trailing_bits);
      return make_inline_bits(to, {v.data, v.byte_size + (v.trailing_bits ? 1u : 0u)}, v.byte_size,
                              v.trailing_bits);
    }
    case Subtag::kResource:
      return make_resource_term(to, resource_object(t));
    case Subtag::kHandle:
      return make_handle_term(to, handle_object(t));
    default: {
      // Flat objects: numbers, refs, funs, external pids/ports, handles.
      Term* p = to.allocate_words(1 + arity);
      std::memcpy(p, src, (1 + arity) * sizeof(Term));
      return make_boxed(p);
    }
  }
}

}  // namespace nifhost::core
