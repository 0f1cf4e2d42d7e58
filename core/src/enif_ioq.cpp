// The enif ABI's I/O queues and I/O vectors: enif_ioq_*, enif_inspect_iovec,
// enif_free_iovec.
//
// A queue holds references to the binaries enqueued (refc binaries, or the
// resources behind resource binaries) and copies only bytes nobody owns, as
// erts_ioq_enqv does; dequeuing drops references once a binary is consumed.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <new>
#include <vector>

#include "enif_common.hpp"
#include "nifhost/core/offheap.hpp"
#include "nifhost/core/terms.hpp"

namespace core = nifhost::core;
namespace enif = nifhost::core::enif;
using core::Term;

// erl_nif.h's ErlNifIOQueue.
struct erts_io_queue {
  struct Chunk {
    core::OffHeapObject* owner;  // one reference, held while bytes of it are queued
    const std::uint8_t* data;
    std::size_t size;
  };
  std::deque<Chunk> chunks;
  std::size_t size = 0;
  std::vector<SysIOVec> peeked;  // what enif_ioq_peek last returned
};

namespace {

// ErlNifIOVec.flags, nifhost's own bits.
constexpr int kHoldsReferences = 1 << 1;  // ref_bins[i] are references to release
constexpr int kArraysAllocated = 1 << 2;  // iov/ref_bins were malloc'ed (one block)
constexpr int kStructAllocated = 1 << 3;  // the ErlNifIOVec itself was malloc'ed

// The chunks of an iovec from `skip` bytes on, each holding a reference to
// its owner (a copy when the bytes have none). Empty optional-like result on
// out-of-memory, with every reference taken so far dropped.
bool chunks_of(const ErlNifIOVec& iov, std::size_t skip, std::vector<erts_io_queue::Chunk>& out) {
  for (int i = 0; i < iov.iovcnt; ++i) {
    auto* base = static_cast<const std::uint8_t*>(static_cast<const void*>(iov.iov[i].iov_base));
    std::size_t len = iov.iov[i].iov_len;
    if (skip >= len) {
      skip -= len;
      continue;
    }
    base += skip;
    len -= skip;
    skip = 0;
    auto* owner =
        iov.ref_bins != nullptr ? static_cast<core::OffHeapObject*>(iov.ref_bins[i]) : nullptr;
    if (owner != nullptr) {
      owner->acquire();
    } else {
      core::RefcBinary* copy = core::RefcBinary::create(len);
      if (copy == nullptr) {
        for (auto& c : out) c.owner->release();
        out.clear();
        return false;
      }
      std::memcpy(copy->data(), base, len);
      owner = copy;
      base = copy->data();
    }
    try {
      out.push_back({owner, base, len});
    } catch (const std::bad_alloc&) {
      owner->release();
      for (auto& c : out) c.owner->release();
      out.clear();
      return false;
    }
  }
  return true;
}

std::size_t iovec_bytes(const ErlNifIOVec& iov) {
  std::size_t n = 0;
  for (int i = 0; i < iov.iovcnt; ++i) n += iov.iov[i].iov_len;
  return n;
}

}  // namespace

extern "C" {

ErlNifIOQueue* enif_ioq_create(ErlNifIOQueueOpts opts) {
  if (opts != ERL_NIF_IOQ_NORMAL) return nullptr;
  return enif::guard<ErlNifIOQueue*>(nullptr, [] { return new erts_io_queue(); });
}

void enif_ioq_destroy(ErlNifIOQueue* q) {
  if (q == nullptr) return;
  for (auto& c : q->chunks) c.owner->release();
  delete q;
}

// Enqueues the iovec's bytes after the first `skip`. False if skip is more
// than the iovec holds (or out of memory).
int enif_ioq_enqv(ErlNifIOQueue* q, ErlNifIOVec* iov, size_t skip) {
  if (q == nullptr || iov == nullptr || skip > iovec_bytes(*iov)) return 0;
  return enif::guard(0, [&] {
    std::vector<erts_io_queue::Chunk> chunks;
    if (!chunks_of(*iov, skip, chunks)) return 0;
    std::size_t added = 0;
    for (auto& c : chunks) {
      q->chunks.push_back(c);
      added += c.size;
    }
    q->size += added;
    return 1;
  });
}

// The queue takes over the binary (it is released here, as erl_nif.c does,
// whether or not it could be enqueued).
int enif_ioq_enq_binary(ErlNifIOQueue* q, ErlNifBinary* bin, size_t skip) {
  if (bin == nullptr) return 0;
  SysIOVec one;
  one.iov_base = reinterpret_cast<char*>(bin->data);
  one.iov_len = bin->size;
  void* ref = bin->ref_bin;
  ErlNifIOVec vec{};
  vec.iovcnt = 1;
  vec.size = bin->size;
  vec.iov = &one;
  vec.ref_bins = &ref;
  int result = enif_ioq_enqv(q, &vec, skip);
  enif_release_binary(bin);
  return result;
}

size_t enif_ioq_size(ErlNifIOQueue* q) { return q != nullptr ? q->size : 0; }

// Drops `count` bytes from the head. False if the queue holds fewer.
int enif_ioq_deq(ErlNifIOQueue* q, size_t count, size_t* size) {
  if (q == nullptr || count > q->size) return 0;
  q->size -= count;
  while (count > 0) {
    auto& head = q->chunks.front();
    if (count < head.size) {
      head.data += count;
      head.size -= count;
      break;
    }
    count -= head.size;
    head.owner->release();
    q->chunks.pop_front();
  }
  if (size != nullptr) *size = q->size;
  return 1;
}

// The queued bytes as an I/O vector, valid until the queue next changes.
SysIOVec* enif_ioq_peek(ErlNifIOQueue* q, int* iovlen) {
  if (q == nullptr) {
    if (iovlen != nullptr) *iovlen = 0;
    return nullptr;
  }
  try {
    q->peeked.resize(q->chunks.size());
  } catch (const std::bad_alloc&) {
    if (iovlen != nullptr) *iovlen = 0;
    return nullptr;
  }
  for (std::size_t i = 0; i < q->chunks.size(); ++i) {
    q->peeked[i].iov_base = const_cast<char*>(reinterpret_cast<const char*>(q->chunks[i].data));
    q->peeked[i].iov_len = q->chunks[i].size;
  }
  if (iovlen != nullptr) *iovlen = static_cast<int>(q->peeked.size());
  return q->peeked.data();
}

// The head chunk as a binary term in env (sharing the queued bytes).
int enif_ioq_peek_head(ErlNifEnv* env, ErlNifIOQueue* q, size_t* size, ERL_NIF_TERM* head) {
  if (q == nullptr || q->chunks.empty()) return 0;
  const auto& c = q->chunks.front();
  return enif::guard(0, [&] {
    if (head != nullptr)
      *head = core::make_binary_view(enif::heap_of(env), c.owner, c.data, c.size);
    if (size != nullptr) *size = c.size;
    return 1;
  });
}

// Fills *iovec with up to max_length binaries from the list iovec_term; the
// rest of the list goes to *tail. False if the list holds a non-binary (or a
// bitstring of a byte or more) or is improper. As in the BEAM, an element
// without a whole byte (<<>>, <<1:3>>) counts towards max_length but adds no
// entry to the vector. With an env the vector lives as long as the env; with
// NULL it holds references of its own and enif_free_iovec frees it.
int enif_inspect_iovec(ErlNifEnv* env, size_t max_length, ERL_NIF_TERM iovec_term,
                       ERL_NIF_TERM* tail, ErlNifIOVec** iovec) {
  if (iovec == nullptr || tail == nullptr) return 0;
  // Examine first: how many elements, all binaries, where the rest starts.
  std::size_t elements = 0;
  std::size_t count = 0;  // the vector's entries: elements with bytes
  Term rest = iovec_term;
  while (core::is_cons(rest) && elements < max_length) {
    Term b = core::cons_head(rest);
    if (!core::is_bitstring(b)) return 0;
    const core::BitstringView v = core::bitstring_view(b);
    if (v.byte_size > 0) {
      if (!v.is_binary()) return 0;
      ++count;
    }
    ++elements;
    rest = core::cons_tail(rest);
  }
  if (!core::is_list(rest)) return 0;

  return enif::guard(0, [&]() -> int {
    ErlNifIOVec* vec = *iovec;
    int flags = 0;
    const bool small = vec != nullptr && count <= ERL_NIF_IOVEC_SIZE;
    SysIOVec* iov = nullptr;
    void** refs = nullptr;
    if (small) {
      iov = vec->small_iov;
      refs = vec->small_ref_bin;
    } else {
      // One block: [ErlNifIOVec if needed][SysIOVec x count][void* x count].
      const std::size_t head = vec == nullptr ? sizeof(ErlNifIOVec) : 0;
      const std::size_t bytes = head + count * (sizeof(SysIOVec) + sizeof(void*));
      std::uint8_t* block = nullptr;
      if (env != nullptr) {
        auto owned = std::make_unique<std::uint8_t[]>(bytes == 0 ? 1 : bytes);
        block = owned.get();
        env->temp_buffers.push_back(std::move(owned));
      } else {
        block = static_cast<std::uint8_t*>(std::malloc(bytes == 0 ? 1 : bytes));
        if (block == nullptr) return 0;
        flags |= vec == nullptr ? kStructAllocated : kArraysAllocated;
      }
      if (vec == nullptr) vec = new (block) ErlNifIOVec{};
      iov = reinterpret_cast<SysIOVec*>(block + head);
      refs = reinterpret_cast<void**>(block + head + count * sizeof(SysIOVec));
    }

    std::size_t total = 0;
    Term cur = iovec_term;
    for (std::size_t i = 0; i < count; cur = core::cons_tail(cur)) {
      core::BitstringView v = core::bitstring_view(core::cons_head(cur));
      if (v.byte_size == 0) continue;
      const std::uint8_t* data = v.data;
      core::OffHeapObject* owner = v.owner;
      if (env == nullptr) {
        // No env keeps the terms alive: hold the bytes ourselves.
        if (owner != nullptr) {
          owner->acquire();
        } else {
          core::RefcBinary* copy = core::RefcBinary::create(v.byte_size);
          if (copy == nullptr) {
            for (std::size_t j = 0; j < i; ++j)
              static_cast<core::OffHeapObject*>(refs[j])->release();
            if (flags & kStructAllocated) std::free(vec);
            if (flags & kArraysAllocated) std::free(iov);
            return 0;
          }
          std::memcpy(copy->data(), v.data, v.byte_size);
          owner = copy;
          data = copy->data();
        }
      }
      iov[i].iov_base = const_cast<char*>(reinterpret_cast<const char*>(data));
      iov[i].iov_len = v.byte_size;
      refs[i] = owner;
      total += v.byte_size;
      ++i;
    }
    if (env == nullptr) flags |= kHoldsReferences;
    vec->iovcnt = static_cast<int>(count);
    vec->size = total;
    vec->iov = iov;
    vec->ref_bins = refs;
    vec->flags = flags;
    *iovec = vec;
    *tail = rest;
    return 1;
  });
}

void enif_free_iovec(ErlNifIOVec* iov) {
  if (iov == nullptr) return;
  const int flags = iov->flags;
  if (flags & kHoldsReferences) {
    for (int i = 0; i < iov->iovcnt; ++i)
      if (iov->ref_bins[i] != nullptr)
        static_cast<core::OffHeapObject*>(iov->ref_bins[i])->release();
  }
  iov->flags = 0;
  iov->iovcnt = 0;
  if (flags & kArraysAllocated) std::free(iov->iov);
  if (flags & kStructAllocated) std::free(iov);
}

}  // extern "C"
