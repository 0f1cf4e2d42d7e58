#pragma once
// nifhost/shm/wait.hpp — waiting for the other process: spin briefly, then
// sleep on a futex word in the segment.
//
// A waiter announces itself in a sleeper count before it sleeps; a waker that
// publishes something bumps the bell and calls FUTEX_WAKE only when the count
// says someone sleeps, so the hot path of a busy lane makes no system call and
// an idle one costs no CPU. Sleeps are cut into slices: a peer that plays with
// the bell word can delay a waiter by one slice, never strand it.
//
//   auto r = await([&] { return word(ctl.head).load(std::memory_order_acquire) != seen; },
//                  ctl.data_bell, ctl.consumer_sleeping, policy, deadline, shut);
//   ...publish...; ring(ctl.data_bell, ctl.consumer_sleeping);
#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>

#include "nifhost/process/channel.hpp"
#include "nifhost/shm/layout.hpp"

namespace nifhost::shm {

using process::Clock;
using process::Deadline;

struct WaitPolicy {
  // Busy-poll this long before sleeping (zero: sleep at once). A caller whose
  // answer comes within it pays no wake-up; the worker's lane threads spin as
  // long after each request, ready for the next.
  std::chrono::nanoseconds spin{50'000};
  // After this much of the spin, poll between sched_yield()s instead: on a
  // machine with more runnable threads than cores the peer may be waiting
  // for this very core, and a pure spin would only keep it out.
  std::chrono::nanoseconds spin_alone{3'000};
  // The longest single sleep; conditions are checked again after each.
  std::chrono::nanoseconds slice{100'000'000};
};

// FUTEX_WAIT on a word in shared memory (not FUTEX_PRIVATE: the waker is
// another process). timeout <= 0: no timeout. Returns 0 when woken, or errno
// (EAGAIN: the word was not `expected`; ETIMEDOUT; EINTR).
int futex_wait(std::uint32_t* word, std::uint32_t expected, std::chrono::nanoseconds timeout);
// FUTEX_WAKE: wakes up to `count` sleepers; returns how many it woke (or -errno).
int futex_wake(std::uint32_t* word, int count = INT_MAX);

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// A full fence for the sleeper handshake: a publisher's store of its index
// must be ordered before its read of the sleeper count, and a waiter's
// increment of the count before its look at the index, or both could miss
// each other. ThreadSanitizer does not model fences (GCC warns, -Wtsan); this
// one orders nothing it needs to see — data is published by release/acquire
// on the indices — only the wake-up, so under it the bare instruction does.
inline void full_fence() {
#if defined(__SANITIZE_THREAD__) && defined(__x86_64__)
  __builtin_ia32_mfence();
#else
  std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

// sched_yield(): lets another runnable thread have this core.
void yield_cpu();

enum class WaitResult { kReady, kWouldBlock, kTimeout, kShut };

// Wakes whoever sleeps on `bell` if `sleepers` says anyone does. Call after
// publishing what they wait for (the fence orders the publication before the
// read of `sleepers`, pairing with the one in await).
inline void ring(std::uint32_t& bell, std::uint32_t& sleepers) {
  full_fence();
  if (word(sleepers).load(std::memory_order_relaxed) != 0) {
    word(bell).fetch_add(1, std::memory_order_release);
    futex_wake(&bell);
  }
}

// Wakes every sleeper on `bell` unconditionally (shutting a lane down).
inline void ring_always(std::uint32_t& bell) {
  word(bell).fetch_add(1, std::memory_order_release);
  futex_wake(&bell);
}

// Waits until ready() holds, the deadline passes or `shut` is set. ready()
// must read what it tests from shared memory with acquire loads.
template <class Ready>
WaitResult await(Ready&& ready, std::uint32_t& bell, std::uint32_t& sleepers,
                 const WaitPolicy& policy, Deadline deadline, const std::atomic<bool>& shut) {
  if (ready()) return WaitResult::kReady;
  if (deadline.is_immediate()) return WaitResult::kWouldBlock;
  if (policy.spin.count() > 0) {
    Clock::time_point start = Clock::now();
    Clock::time_point until = start + policy.spin;
    Clock::time_point alone = start + std::min(policy.spin_alone, policy.spin);
    if (until > deadline.at) until = deadline.at;
    for (;;) {
      for (int i = 0; i < 64; ++i) {
        cpu_relax();
        if (ready()) return WaitResult::kReady;
      }
      if (shut.load(std::memory_order_relaxed)) return WaitResult::kShut;
      Clock::time_point now = Clock::now();
      if (now >= until) break;
      if (now >= alone) yield_cpu();
    }
  }
  for (;;) {
    if (shut.load(std::memory_order_acquire)) return WaitResult::kShut;
    Clock::time_point now = Clock::now();
    std::chrono::nanoseconds sleep = policy.slice;
    if (!deadline.is_never()) {
      if (now >= deadline.at) return ready() ? WaitResult::kReady : WaitResult::kTimeout;
      sleep = std::min(sleep, std::chrono::nanoseconds(deadline.at - now));
    }
    std::uint32_t seen = word(bell).load(std::memory_order_acquire);
    word(sleepers).fetch_add(1, std::memory_order_relaxed);
    full_fence();
    bool now_ready = ready();
    if (!now_ready && !shut.load(std::memory_order_acquire)) futex_wait(&bell, seen, sleep);
    word(sleepers).fetch_sub(1, std::memory_order_relaxed);
    if (now_ready || ready()) return WaitResult::kReady;
  }
}

}  // namespace nifhost::shm
