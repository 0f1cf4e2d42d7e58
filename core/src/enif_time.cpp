// The enif ABI's time functions: Erlang monotonic time, the time offset, unit
// conversion, erlang:now()-style timestamps and CPU time.
//
// As in the BEAM's default time warp mode (no_time_warp), the offset between
// Erlang monotonic time and Erlang system time is fixed once, when it is first
// needed, so system time = monotonic time + offset always holds.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <time.h>

#include "enif_common.hpp"
#include "nifhost/core/terms.hpp"

namespace core = nifhost::core;
namespace enif = nifhost::core::enif;

namespace {

constexpr std::int64_t kNsPerSec = 1'000'000'000;

// Ticks per second of a unit, or 0 for a value that is no ErlNifTimeUnit.
std::int64_t unit_frequency(int unit) {
  switch (unit) {
    case ERL_NIF_SEC:
      return 1;
    case ERL_NIF_MSEC:
      return 1'000;
    case ERL_NIF_USEC:
      return 1'000'000;
    case ERL_NIF_NSEC:
      return kNsPerSec;
    default:
      return 0;
  }
}

// Converts with the floor function, as erts_napi_convert_time_unit does
// (plain integer division would round negative values towards zero).
ErlNifTime convert(std::int64_t value, std::int64_t from_freq, std::int64_t to_freq) {
  if (to_freq >= from_freq) {
    std::int64_t out;
    // The BEAM lets the product wrap; an error value says more than a wrong time.
    if (__builtin_mul_overflow(value, to_freq / from_freq, &out)) return ERL_NIF_TIME_ERROR;
    return out;
  }
  std::int64_t denom = from_freq / to_freq;
  if (value >= 0) return value / denom;
  return (value - (denom - 1)) / denom;
}

std::int64_t monotonic_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::int64_t system_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Erlang system time minus Erlang monotonic time, in nanoseconds; fixed at first use.
std::int64_t offset_ns() {
  static const std::int64_t offset = system_ns() - monotonic_ns();
  return offset;
}

// The BEAM answers ERL_NIF_TIME_ERROR to threads that are not schedulers.
bool on_scheduler() { return core::current_thread_role() != core::ThreadRole::kNone; }

// {MegaSecs, Secs, MicroSecs} for a count of microseconds.
ERL_NIF_TERM make_timestamp(ErlNifEnv* env, std::uint64_t us) {
  return enif::guard_term(env, [&] {
    std::uint64_t secs = us / 1'000'000;
    return core::make_tuple(enif::heap_of(env),
                            {core::make_unsigned(enif::heap_of(env), secs / 1'000'000),
                             core::make_small(static_cast<std::int64_t>(secs % 1'000'000)),
                             core::make_small(static_cast<std::int64_t>(us % 1'000'000))});
  });
}

}  // namespace

extern "C" {

ErlNifTime enif_monotonic_time(ErlNifTimeUnit unit) {
  std::int64_t freq = unit_frequency(unit);
  if (freq == 0 || !on_scheduler()) return ERL_NIF_TIME_ERROR;
  return convert(monotonic_ns(), kNsPerSec, freq);
}

ErlNifTime enif_time_offset(ErlNifTimeUnit unit) {
  std::int64_t freq = unit_frequency(unit);
  if (freq == 0 || !on_scheduler()) return ERL_NIF_TIME_ERROR;
  return convert(offset_ns(), kNsPerSec, freq);
}

ErlNifTime enif_convert_time_unit(ErlNifTime val, ErlNifTimeUnit from, ErlNifTimeUnit to) {
  std::int64_t from_freq = unit_frequency(from);
  std::int64_t to_freq = unit_frequency(to);
  if (from_freq == 0 || to_freq == 0) return ERL_NIF_TIME_ERROR;
  return convert(val, from_freq, to_freq);
}

// erlang:now(): the system time in microseconds, but strictly increasing over
// every call in the process (a repeated microsecond is bumped by one).
ERL_NIF_TERM enif_now_time(ErlNifEnv* env) {
  static std::atomic<std::uint64_t> last{0};
  auto now = static_cast<std::uint64_t>((monotonic_ns() + offset_ns()) / 1000);
  std::uint64_t prev = last.load(std::memory_order_relaxed);
  std::uint64_t next;
  do {
    next = now > prev ? now : prev + 1;
  } while (!last.compare_exchange_weak(prev, next, std::memory_order_relaxed));
  return make_timestamp(env, next);
}

// The CPU time the process has used, as {MegaSecs, Secs, MicroSecs}
// (CLOCK_PROCESS_CPUTIME_ID, as the BEAM on Linux); badarg if the clock fails.
ERL_NIF_TERM enif_cpu_time(ErlNifEnv* env) {
  timespec ts{};
  if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
    return enif::raise(env, core::atoms::kBadarg);
  auto us = static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000 +
            static_cast<std::uint64_t>(ts.tv_nsec) / 1000;
  return make_timestamp(env, us);
}

}  // extern "C"
