/* nh_messages: everything a NIF does that reaches other processes — enif_self,
 * enif_send from the calling process, from a process-independent env and
 * from a created thread, enif_whereis_*, liveness checks, and monitors with
 * a resource `down` callback.
 *
 * A monitor's down callback sends {nh_down, Resource, DeadPid} to the
 * process that called monitor/1 (so a test can wait for it), and bumps a
 * counter read by down_count/0.
 */
#include <stdatomic.h>
#include <string.h>

#include "nh_common.h"

typedef struct {
  ErlNifResourceType* monitor_type;
} priv_t;

typedef struct {
  ErlNifPid owner; /* gets the nh_down message */
  ErlNifMonitor mon;
} watch_t;

static atomic_long g_downs;

static void watch_down(ErlNifEnv* env, void* obj, ErlNifPid* pid, ErlNifMonitor* mon) {
  watch_t* w = obj;
  ErlNifEnv* msg_env = enif_alloc_env();
  ERL_NIF_TERM msg;
  (void)mon;
  atomic_fetch_add(&g_downs, 1);
  msg = enif_make_tuple3(msg_env, enif_make_atom(msg_env, "nh_down"),
                         enif_make_resource(msg_env, obj), enif_make_pid(msg_env, pid));
  enif_send(env, &w->owner, msg_env, msg);
  enif_free_env(msg_env);
}

static int open_types(ErlNifEnv* env, void** priv, ErlNifResourceFlags flags) {
  ErlNifResourceTypeInit init;
  ErlNifResourceFlags tried;
  priv_t* p = enif_alloc(sizeof(priv_t));
  if (p == NULL) return 1;
  memset(&init, 0, sizeof(init));
  init.down = watch_down;
  p->monitor_type = enif_open_resource_type_x(env, "nh_watch", &init, flags, &tried);
  if (p->monitor_type == NULL) {
    enif_free(p);
    return 2;
  }
  *priv = p;
  return 0;
}

static int load(ErlNifEnv* env, void** priv, ERL_NIF_TERM info) {
  (void)info;
  return open_types(env, priv, ERL_NIF_RT_CREATE);
}

static int upgrade(ErlNifEnv* env, void** priv, void** old_priv, ERL_NIF_TERM info) {
  (void)old_priv;
  (void)info;
  return open_types(env, priv, (ErlNifResourceFlags)(ERL_NIF_RT_CREATE | ERL_NIF_RT_TAKEOVER));
}

static void unload(ErlNifEnv* env, void* priv) {
  (void)env;
  enif_free(priv);
}

static ERL_NIF_TERM self(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifPid pid;
  (void)argc;
  (void)argv;
  if (enif_self(env, &pid) == NULL) return enif_make_badarg(env);
  return enif_make_pid(env, &pid);
}

/* Msg -> true: sends Msg to the caller from the caller's own env (msg_env
 * NULL: the VM copies the message). */
static ERL_NIF_TERM send_self(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifPid pid;
  (void)argc;
  if (enif_self(env, &pid) == NULL) return enif_make_badarg(env);
  return nh_bool(env, enif_send(env, &pid, NULL, argv[0]));
}

/* (Pid, Msg) -> true | false (enif_send's result: false when Pid is not an
 * alive local process). */
static ERL_NIF_TERM send_to(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifPid pid;
  (void)argc;
  if (!enif_get_local_pid(env, argv[0], &pid)) return enif_make_badarg(env);
  return nh_bool(env, enif_send(env, &pid, NULL, argv[1]));
}

/* (Pid, Msg) -> true | false: the message is copied into an enif_alloc_env
 * and sent from there (msg_env), the common pattern for NIFs that build a
 * message before sending it. */
static ERL_NIF_TERM send_from_alloc_env(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifPid pid;
  ErlNifEnv* msg_env;
  int sent;
  (void)argc;
  if (!enif_get_local_pid(env, argv[0], &pid)) return enif_make_badarg(env);
  msg_env = enif_alloc_env();
  sent = enif_send(env, &pid, msg_env, enif_make_copy(msg_env, argv[1]));
  enif_free_env(msg_env);
  return nh_bool(env, sent);
}

/* (Pid, N) -> ok: sends {nh_seq, 1} .. {nh_seq, N} in order. */
static ERL_NIF_TERM send_n(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifPid pid;
  unsigned n, i;
  ERL_NIF_TERM tag;
  (void)argc;
  if (!enif_get_local_pid(env, argv[0], &pid) || !enif_get_uint(env, argv[1], &n))
    return enif_make_badarg(env);
  tag = nh_atom(env, "nh_seq");
  for (i = 1; i <= n; ++i) {
    if (!enif_send(env, &pid, NULL, enif_make_tuple2(env, tag, enif_make_uint(env, i))))
      return nh_error(env);
  }
  return nh_ok(env);
}

typedef struct {
  ErlNifPid to;
  ErlNifEnv* msg_env;
  ERL_NIF_TERM msg;
  int sent;
} thread_send_t;

static void* thread_send_main(void* arg) {
  thread_send_t* job = arg;
  /* A created thread has no env of its own: env is NULL, as documented. */
  job->sent = enif_send(NULL, &job->to, job->msg_env, job->msg);
  return NULL;
}

/* (Pid, Msg) -> true | false: a thread made with enif_thread_create sends
 * the message; the NIF joins it before returning. */
static ERL_NIF_TERM send_from_thread(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  thread_send_t job;
  ErlNifTid tid;
  (void)argc;
  if (!enif_get_local_pid(env, argv[0], &job.to)) return enif_make_badarg(env);
  job.msg_env = enif_alloc_env();
  job.msg = enif_make_copy(job.msg_env, argv[1]);
  job.sent = 0;
  if (enif_thread_create("nh_send", &tid, thread_send_main, &job, NULL) != 0) {
    enif_free_env(job.msg_env);
    return nh_error(env);
  }
  enif_thread_join(tid, NULL);
  enif_free_env(job.msg_env);
  return nh_bool(env, job.sent);
}

/* Name -> Pid | undefined */
static ERL_NIF_TERM whereis(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifPid pid;
  (void)argc;
  if (!enif_is_atom(env, argv[0])) return enif_make_badarg(env);
  if (!enif_whereis_pid(env, argv[0], &pid)) return nh_atom(env, "undefined");
  return enif_make_pid(env, &pid);
}

/* Name -> {port, Alive} | undefined (the API has no way to make a port
 * term, so the port itself cannot be returned). */
static ERL_NIF_TERM whereis_port(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifPort port;
  (void)argc;
  if (!enif_is_atom(env, argv[0])) return enif_make_badarg(env);
  if (!enif_whereis_port(env, argv[0], &port)) return nh_atom(env, "undefined");
  return enif_make_tuple2(env, nh_atom(env, "port"), nh_bool(env, enif_is_port_alive(env, &port)));
}

/* (Port, IoData) -> true | false: enif_port_command, as port_command/2
 * would (false when the port is closed). */
static ERL_NIF_TERM port_command(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifPort port;
  (void)argc;
  if (!enif_get_local_port(env, argv[0], &port)) return enif_make_badarg(env);
  return nh_bool(env, enif_port_command(env, &port, NULL, argv[1]));
}

static ERL_NIF_TERM is_process_alive(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifPid pid;
  (void)argc;
  if (!enif_get_local_pid(env, argv[0], &pid)) return enif_make_badarg(env);
  return nh_bool(env, enif_is_process_alive(env, &pid));
}

/* Pid -> {Resource, MonitorTerm} | {error, noproc}. When Pid exits the
 * caller receives {nh_down, Resource, Pid}. */
static ERL_NIF_TERM monitor(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  ErlNifPid target;
  watch_t* w;
  int rc;
  ERL_NIF_TERM res;
  priv_t* p = enif_priv_data(env);
  (void)argc;
  if (!enif_get_local_pid(env, argv[0], &target)) return enif_make_badarg(env);
  w = enif_alloc_resource(p->monitor_type, sizeof(watch_t));
  if (w == NULL) return enif_make_badarg(env);
  memset(w, 0, sizeof(*w));
  if (enif_self(env, &w->owner) == NULL) {
    enif_release_resource(w);
    return enif_make_badarg(env);
  }
  rc = enif_monitor_process(env, w, &target, &w->mon);
  if (rc != 0) {
    enif_release_resource(w);
    return nh_error_tuple(env, nh_atom(env, rc > 0 ? "noproc" : "unsupported"));
  }
  res = enif_make_resource(env, w);
  enif_release_resource(w);
  return enif_make_tuple2(env, res, enif_make_monitor_term(env, &w->mon));
}

/* Resource -> true | false (false: already triggered or removed). */
static ERL_NIF_TERM demonitor(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  watch_t* w;
  priv_t* p = enif_priv_data(env);
  int removed;
  (void)argc;
  if (!enif_get_resource(env, argv[0], p->monitor_type, (void**)&w)) return enif_make_badarg(env);
  removed = enif_demonitor_process(env, w, &w->mon) == 0;
  return nh_bool(env, removed);
}

/* (ResourceA, ResourceB) -> sign of enif_compare_monitors. */
static ERL_NIF_TERM compare_monitors(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  watch_t *a, *b;
  priv_t* p = enif_priv_data(env);
  int c;
  (void)argc;
  if (!enif_get_resource(env, argv[0], p->monitor_type, (void**)&a) ||
      !enif_get_resource(env, argv[1], p->monitor_type, (void**)&b))
    return enif_make_badarg(env);
  c = enif_compare_monitors(&a->mon, &b->mon);
  return enif_make_int(env, (c > 0) - (c < 0));
}

static ERL_NIF_TERM down_count(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  (void)argc;
  (void)argv;
  return enif_make_long(env, atomic_load(&g_downs));
}

static ErlNifFunc funcs[] = {
    {"self", 0, self, 0},
    {"send_self", 1, send_self, 0},
    {"send_to", 2, send_to, 0},
    {"send_from_alloc_env", 2, send_from_alloc_env, 0},
    {"send_n", 2, send_n, 0},
    {"send_from_thread", 2, send_from_thread, 0},
    {"whereis", 1, whereis, 0},
    {"whereis_port", 1, whereis_port, 0},
    {"port_command", 2, port_command, 0},
    {"is_process_alive", 1, is_process_alive, 0},
    {"monitor", 1, monitor, 0},
    {"demonitor", 1, demonitor, 0},
    {"compare_monitors", 2, compare_monitors, 0},
    {"down_count", 0, down_count, 0},
};

ERL_NIF_INIT(nh_messages, funcs, load, NULL, upgrade, unload)
