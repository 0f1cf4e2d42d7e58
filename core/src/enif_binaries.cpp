// The enif ABI's binary functions: ErlNifBinary buffers (alloc, realloc,
// release), binary terms (make, make_new, sub-binaries, inspect, iolists) and
// the external term format (term_to_binary, binary_to_term).
//
// ErlNifBinary.ref_bin holds the RefcBinary* of a buffer made by
// enif_alloc_binary; the caller owns that reference until enif_make_binary
// hands it to the env's heap or enif_release_binary drops it. An inspected
// binary has ref_bin NULL: its bytes belong to the term (read-only, valid as
// long as the term's env) and releasing it does nothing, as in the BEAM.
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "enif_common.hpp"
#include "nifhost/core/etf.hpp"
#include "nifhost/core/terms.hpp"

using nifhost::core::Term;
namespace core = nifhost::core;
namespace enif = nifhost::core::enif;

namespace {

core::RefcBinary* refc_of(const ErlNifBinary* bin) {
  return static_cast<core::RefcBinary*>(bin->ref_bin);
}

void fill(ErlNifBinary* bin, core::RefcBinary* b, std::size_t size) {
  bin->size = size;
  bin->data = b->data();
  bin->ref_bin = b;
  bin->__spare__[0] = nullptr;
  bin->__spare__[1] = nullptr;
}

// Size of an iolist (bytes 0..255, binaries and iolists, with a binary or []
// as the tail of any list), or nullopt if term is not one. Iterative: a deep
// iolist must not exhaust the stack.
std::optional<std::size_t> iolist_size(Term term) {
  std::size_t size = 0;
  std::vector<Term> pending{term};
  while (!pending.empty()) {
    Term t = pending.back();
    pending.pop_back();
    if (core::is_cons(t)) {
      Term head = core::cons_head(t);
      if (core::is_small(head)) {
        if (core::small_value(head) < 0 || core::small_value(head) > 255) return std::nullopt;
        ++size;
      } else if (core::is_cons(head) || core::is_nil(head) || core::is_bitstring(head)) {
        pending.push_back(head);
      } else {
        return std::nullopt;
      }
      Term tail = core::cons_tail(t);
      if (core::is_cons(tail) || core::is_nil(tail) || core::is_bitstring(tail))
        pending.push_back(tail);
      else
        return std::nullopt;
    } else if (core::is_bitstring(t)) {
      core::BitstringView v = core::bitstring_view(t);
      if (!v.is_binary()) return std::nullopt;
      size += v.byte_size;
    } else if (!core::is_nil(t)) {
      return std::nullopt;
    }
  }
  return size;
}

// Writes an iolist already checked by iolist_size, in order.
void iolist_copy(Term term, std::uint8_t* out) {
  std::vector<Term> pending{term};
  while (!pending.empty()) {
    Term t = pending.back();
    pending.pop_back();
    if (core::is_cons(t)) {
      // The tail comes after the head: push it first.
      pending.push_back(core::cons_tail(t));
      Term head = core::cons_head(t);
      if (core::is_small(head))
        *out++ = static_cast<std::uint8_t>(core::small_value(head));
      else
        pending.push_back(head);
    } else if (core::is_bitstring(t)) {
      core::BitstringView v = core::bitstring_view(t);
      if (v.byte_size > 0) std::memcpy(out, v.data, v.byte_size);
      out += v.byte_size;
    }
  }
}

}  // namespace

extern "C" {

int enif_alloc_binary(size_t size, ErlNifBinary* bin) {
  core::RefcBinary* b = core::RefcBinary::create(size);
  if (b == nullptr) return 0;
  fill(bin, b, size);
  return 1;
}

// Like the BEAM: an owned buffer is resized in place (its data may move); an
// inspected one is copied into a new owned buffer of the new size.
int enif_realloc_binary(ErlNifBinary* bin, size_t size) {
  if (core::RefcBinary* b = refc_of(bin)) {
    // The caller owns the only reference until enif_make_binary.
    if (b->refcount() != 1 || !b->resize(size)) return 0;
    fill(bin, b, size);
    return 1;
  }
  const unsigned char* old_data = bin->data;
  std::size_t keep = size < bin->size ? size : bin->size;
  core::RefcBinary* b = core::RefcBinary::create(size);
  if (b == nullptr) return 0;
  if (keep > 0) std::memcpy(b->data(), old_data, keep);
  fill(bin, b, size);
  return 1;
}

void enif_release_binary(ErlNifBinary* bin) {
  if (core::RefcBinary* b = refc_of(bin)) b->release();
  bin->ref_bin = nullptr;
}

int enif_inspect_binary(ErlNifEnv*, ERL_NIF_TERM bin_term, ErlNifBinary* bin) {
  if (!core::is_bitstring(bin_term)) return 0;
  core::BitstringView v = core::bitstring_view(bin_term);
  if (!v.is_binary()) return 0;  // a bitstring is not a binary here, as in the BEAM
  // The bytes are read-only to the NIF (the BEAM hands out the same pointer).
  bin->data = const_cast<unsigned char*>(v.data);
  bin->size = v.byte_size;
  bin->ref_bin = nullptr;
  bin->__spare__[0] = nullptr;
  bin->__spare__[1] = nullptr;
  return 1;
}

// A binary stays a binary; [] gives an empty buffer; any other iolist is
// flattened into a buffer that lives as long as the env.
int enif_inspect_iolist_as_binary(ErlNifEnv* env, ERL_NIF_TERM term, ErlNifBinary* bin) {
  if (core::is_bitstring(term)) return enif_inspect_binary(env, term, bin);
  if (core::is_nil(term)) {
    bin->data = reinterpret_cast<unsigned char*>(&bin->data);  // any non-NULL pointer
    bin->size = 0;
    bin->ref_bin = nullptr;
    return 1;
  }
  return enif::guard(0, [&] {
    auto size = iolist_size(term);
    if (!size) return 0;
    // One spare byte so a zero-size buffer still has an address.
    auto buffer = std::make_unique<std::uint8_t[]>(*size + 1);
    iolist_copy(term, buffer.get());
    bin->data = buffer.get();
    bin->size = *size;
    bin->ref_bin = nullptr;
    env->temp_buffers.push_back(std::move(buffer));
    return 1;
  });
}

// Hands the caller's buffer to the env's heap. The bytes stay readable until
// the env ends; ref_bin is cleared so that a release afterwards is harmless.
ERL_NIF_TERM enif_make_binary(ErlNifEnv* env, ErlNifBinary* bin) {
  core::RefcBinary* b = refc_of(bin);
  if (b == nullptr) {
    // An inspected binary (or a plain buffer): the term gets a copy.
    return enif::guard_term(env, [&]() -> Term {
      auto t = core::make_binary(enif::heap_of(env),
                                 std::span<const std::uint8_t>(bin->data, bin->size));
      if (!t) return enif::raise(env, core::atoms::kEnomem);
      return *t;
    });
  }
  // A size grown past the buffer (without enif_realloc_binary) is a NIF bug
  // the BEAM would read out of bounds on; here it is badarg.
  if (bin->size > b->size()) return enif::raise(env, core::atoms::kBadarg);
  return enif::guard_term(env, [&] {
    Term t = core::make_refc_binary(enif::heap_of(env), b, bin->size);
    bin->ref_bin = nullptr;
    return t;
  });
}

unsigned char* enif_make_new_binary(ErlNifEnv* env, size_t size, ERL_NIF_TERM* termp) {
  return enif::guard<unsigned char*>(nullptr, [&]() -> unsigned char* {
    core::Heap& heap = enif::heap_of(env);
    if (size <= core::kHeapBinaryMax) {
      std::uint8_t zeros[core::kHeapBinaryMax] = {};
      auto t = core::make_binary(heap, std::span<const std::uint8_t>(zeros, size));
      if (!t) return nullptr;
      *termp = *t;
      // A fresh heap binary's bytes are this env's to fill.
      return const_cast<unsigned char*>(core::bitstring_view(*t).data);
    }
    core::RefcBinary* b = core::RefcBinary::create(size);
    if (b == nullptr) return nullptr;
    *termp = core::make_refc_binary(heap, b, size);
    return b->data();
  });
}

// The BEAM only asserts the bounds (in debug builds); here a slice outside
// the binary, or a term that is no binary, is badarg.
ERL_NIF_TERM enif_make_sub_binary(ErlNifEnv* env, ERL_NIF_TERM bin_term, size_t pos, size_t size) {
  if (!core::is_bitstring(bin_term)) return enif::raise(env, core::atoms::kBadarg);
  core::BitstringView v = core::bitstring_view(bin_term);
  if (pos > v.byte_size || size > v.byte_size - pos) return enif::raise(env, core::atoms::kBadarg);
  return enif::guard_term(
      env, [&] { return core::make_sub_binary(enif::heap_of(env), bin_term, pos, size); });
}

// ---------------------------------------------------------------- external term format
int enif_term_to_binary(ErlNifEnv*, ERL_NIF_TERM term, ErlNifBinary* bin) {
  return enif::guard(0, [&] {
    auto bytes = core::encode(term);
    if (!bytes) return 0;
    if (!enif_alloc_binary(bytes->size(), bin)) return 0;
    if (!bytes->empty()) std::memcpy(bin->data, bytes->data(), bytes->size());
    return 1;
  });
}

// The bytes the term took (what follows it is ignored), or 0 if the data is
// no valid external term or opts holds anything but ERL_NIF_BIN2TERM_SAFE.
size_t enif_binary_to_term(ErlNifEnv* env, const unsigned char* data, size_t sz, ERL_NIF_TERM* term,
                           unsigned int opts) {
  if ((opts & ~static_cast<unsigned>(ERL_NIF_BIN2TERM_SAFE)) != 0) return 0;
  return enif::guard<size_t>(0, [&]() -> size_t {
    core::DecodeOptions options;
    options.existing_atoms_only = (opts & ERL_NIF_BIN2TERM_SAFE) != 0;
    auto decoded =
        core::decode_prefix(std::span<const std::uint8_t>(data, sz), enif::heap_of(env), options);
    if (!decoded) return 0;
    *term = decoded->term;
    return decoded->used;
  });
}

}  // extern "C"
