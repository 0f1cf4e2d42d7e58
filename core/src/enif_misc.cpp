// The rest of the enif ABI's runtime: scheduling (enif_schedule_nif,
// enif_consume_timeslice), enif_system_info, enif_dlopen/enif_dlsym and
// enif_getenv.
#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <erl_driver.h>  // ERL_DRV_EXTENDED_{MAJOR,MINOR}_VERSION for enif_system_info
#include <string>
#include <vector>

#include "enif_common.hpp"
#include "enif_runtime.hpp"
#include "nifhost/core/atom_table.hpp"

namespace core = nifhost::core;
namespace enif = nifhost::core::enif;
using core::Term;

namespace {

// What OTP 25's erlang:system_info/1 says on this platform; the enif ABI
// nifhost implements is that release's (erl_nif.h 2.16, erl_driver.h 3.3).
// core_enif_runtime_test checks these against the installed BEAM.
char kErtsVersion[] = "13.1.5";
char kOtpRelease[] = "25";

// ERL_DRV_SYS_INFO_SIZE in erl_driver.c: the bytes up to and including a field.
#define NIFHOST_SYS_INFO_SIZE(field) (offsetof(ErlNifSysInfo, field) + sizeof(ErlNifSysInfo::field))

// MAX_ARG in the BEAM.
constexpr int kMaxArgs = 255;

}  // namespace

extern "C" {

// ---------------------------------------------------------------- scheduling

// Asks the dispatcher to run fp(argv) when the calling NIF returns (whose
// return value is then ignored), on a dirty scheduler if flags say so. The
// returned marker is what the NIF should return. badarg for a bad flag,
// more than 255 arguments, a name that is no atom, or an env that is not the
// calling process's.
ERL_NIF_TERM enif_schedule_nif(ErlNifEnv* env, const char* fun_name, int flags,
                               ERL_NIF_TERM (*fp)(ErlNifEnv*, int, const ERL_NIF_TERM[]), int argc,
                               const ERL_NIF_TERM argv[]) {
  if (env == nullptr) return enif::kNonValue;
  return enif::guard_term(env, [&]() -> Term {
    if (env->kind != core::EnvKind::kProcessBound || fp == nullptr || argc < 0 || argc > kMaxArgs ||
        (argc > 0 && argv == nullptr) || fun_name == nullptr)
      return enif::raise(env, core::atoms::kBadarg);
    if (flags & ~(ERL_NIF_DIRTY_JOB_CPU_BOUND | ERL_NIF_DIRTY_JOB_IO_BOUND))
      return enif::raise(env, core::atoms::kBadarg);
    if (!core::AtomTable::instance().intern_latin1(fun_name))
      return enif::raise(env, core::atoms::kBadarg);
    core::ScheduledNif next;
    next.name = fun_name;
    next.flags = flags;
    next.fptr = fp;
    next.argv.assign(argv, argv + argc);
    env->scheduled = std::move(next);
    return enif::kNonValue;
  });
}

// Adds percent (clamped to 1..100) of a timeslice to the call's use; 1 once
// the slice is used up. Dirty NIFs have no timeslice (0), as in the BEAM.
int enif_consume_timeslice(ErlNifEnv* env, int percent) {
  core::ThreadRole role = core::current_thread_role();
  if (role == core::ThreadRole::kDirtyCpu || role == core::ThreadRole::kDirtyIo) return 0;
  if (env == nullptr || env->kind != core::EnvKind::kProcessBound) return 0;
  percent = std::clamp(percent, 1, 100);
  env->timeslice_percent_used = std::min(env->timeslice_percent_used + percent, 100);
  return env->timeslice_percent_used >= 100 ? 1 : 0;
}

// ---------------------------------------------------------------- system info

// Fills as much of *sip as si_size covers, field by field as the BEAM does;
// nothing if si_size does not reach smp_support (where the BEAM aborts).
void enif_system_info(ErlNifSysInfo* sip, size_t si_size) {
  if (sip == nullptr || si_size < NIFHOST_SYS_INFO_SIZE(smp_support)) return;
  sip->driver_major_version = ERL_DRV_EXTENDED_MAJOR_VERSION;
  sip->driver_minor_version = ERL_DRV_EXTENDED_MINOR_VERSION;
  sip->erts_version = kErtsVersion;
  sip->otp_release = kOtpRelease;
  sip->thread_support = 1;
  sip->smp_support = 1;
  if (si_size >= NIFHOST_SYS_INFO_SIZE(scheduler_threads)) {
    // The BEAM's default async thread pool (+A) has one thread.
    sip->async_threads = 1;
    sip->scheduler_threads = static_cast<int>(core::runtime::normal_scheduler_threads());
  }
  if (si_size >= NIFHOST_SYS_INFO_SIZE(nif_minor_version)) {
    sip->nif_major_version = ERL_NIF_MAJOR_VERSION;
    sip->nif_minor_version = ERL_NIF_MINOR_VERSION;
  }
  if (si_size >= NIFHOST_SYS_INFO_SIZE(dirty_scheduler_support)) sip->dirty_scheduler_support = 1;
}

// ---------------------------------------------------------------- dynamic libraries

// erts_sys_ddll_open: the name gets ".so" appended and is opened RTLD_NOW |
// RTLD_LOCAL; a library's nif_init, if it has one, is called (the BEAM does
// so to hand Windows NIFs their callback table). On failure err_handler (if
// any) gets dlerror()'s text and NULL is returned.
void* enif_dlopen(const char* lib, void (*err_handler)(void*, const char*), void* err_arg) {
  if (lib == nullptr) {
    if (err_handler != nullptr) err_handler(err_arg, "invalid library name");
    return nullptr;
  }
  std::string name;
  try {
    name = std::string(lib) + ".so";
  } catch (const std::bad_alloc&) {
    if (err_handler != nullptr) err_handler(err_arg, "out of memory");
    return nullptr;
  }
  dlerror();
  void* handle = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    if (err_handler != nullptr) err_handler(err_arg, why != nullptr ? why : "unknown error");
    return nullptr;
  }
  using NifInit = void* (*)();
  if (void* init = dlsym(handle, "nif_init"); init != nullptr) reinterpret_cast<NifInit>(init)();
  dlerror();
  return handle;
}

// A symbol's address; on failure err_handler (if any) gets dlerror()'s text
// and NULL is returned.
void* enif_dlsym(void* handle, const char* symbol, void (*err_handler)(void*, const char*),
                 void* err_arg) {
  dlerror();
  void* address = dlsym(handle, symbol != nullptr ? symbol : "");
  if (const char* why = dlerror(); why != nullptr) {
    if (err_handler != nullptr) err_handler(err_arg, why);
    return nullptr;
  }
  return address;
}

// ---------------------------------------------------------------- environment

// erl_drv_getenv: 0 and the value (NUL-terminated, *value_size = its
// length) if set; > 0 and *value_size = the buffer size needed if the buffer
// is too small; < 0 if not set. Reads the OS environment (nifhost has no
// emulated one like os:getenv's).
int enif_getenv(const char* key, char* value, size_t* value_size) {
  if (key == nullptr || value_size == nullptr) return -1;
  const char* found = std::getenv(key);
  if (found == nullptr) return -1;
  std::size_t len = std::strlen(found);
  if (value == nullptr || len >= *value_size) {
    *value_size = len + 1;
    return 1;
  }
  std::memcpy(value, found, len + 1);
  *value_size = len;
  return 0;
}

}  // extern "C"
