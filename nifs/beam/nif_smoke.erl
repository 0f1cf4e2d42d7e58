%% nif_smoke: loads every BEAM-compatible NIF suite into the running BEAM
%% and calls each function with representative arguments, checking the
%% answers against Erlang's own BIFs (term_to_binary/1, phash2/1, term
%% order, ...) or against values that follow from the function's contract.
%% It proves the suites are valid NIF libraries that behave as README.md
%% says, independently of nifhost.
%%
%%   erlc -o OUT nif_stub.erl nif_smoke.erl
%%   erl -noshell -pa OUT -eval 'nif_smoke:main(["BUILD/nifs"])'
%%
%% Prints one line per failed check and a summary; halts with status 0 when
%% everything passed, 1 otherwise. The fault suite is not run here (it kills
%% the node on purpose).
-module(nif_smoke).

-export([main/1, run/1, functions/1]).

-define(CHECK(Name, Expr, Expected), check(Name, fun() -> Expr end, Expected)).
-define(RAISES(Name, Expr, Class, Reason), raises(Name, fun() -> Expr end, Class, Reason)).

main([Dir]) ->
    {Passed, Failed} = run(Dir),
    io:format("nif_smoke: ~b checks passed, ~b failed~n", [Passed, Failed]),
    halt(case Failed of 0 -> 0; _ -> 1 end).

run(Dir) ->
    put(passed, 0),
    put(failed, 0),
    Path = fun(Lib) -> filename:join(Dir, atom_to_list(Lib)) end,
    lists:foreach(
      fun(Mod) ->
              put(list_to_atom(atom_to_list(Mod) ++ "_path"), Path(Mod)),
              case nif_stub:load(Path(Mod), Mod, functions(Mod), []) of
                  ok ->
                      bump(passed),
                      suite(Mod),
                      %% Loading the module again is a code upgrade of the
                      %% same library: the upgrade callback must accept it.
                      ?CHECK({reload, Mod},
                             nif_stub:load(Path(Mod), Mod, functions(Mod), []), ok);
                  Error ->
                      fail({load, Mod}, Error)
              end
      end, [nh_terms, nh_binaries, nh_resources, nh_messages, nh_sched]),
    upgrade(Path),
    loader_failures(Path),
    {get(passed), get(failed)}.

%% --- functions per suite (must match the libraries exactly) ------------------

functions(nh_terms) ->
    [{noop, 0}, {add, 2}, {echo, 1}, {make_copy, 1},
     {roundtrip_int, 1}, {roundtrip_uint, 1}, {roundtrip_long, 1}, {roundtrip_ulong, 1},
     {roundtrip_int64, 1}, {roundtrip_uint64, 1}, {roundtrip_double, 1},
     {roundtrip_atom, 1}, {roundtrip_string, 1}, {roundtrip_tuple, 1},
     {roundtrip_list, 1}, {roundtrip_map, 1}, {type_of, 1},
     {list_from_tuple, 1}, {reverse_list, 1}, {list_cell, 1}, {list_length, 1},
     {prepend, 2}, {make_list3, 3}, {tuple_size, 1}, {tuple_element, 2},
     {tuple_from_list, 1}, {make_tuple3, 3}, {fixed_arity, 0},
     {new_map, 0}, {map_put, 3}, {map_update, 3}, {map_remove, 2}, {map_get, 2},
     {map_size, 1}, {map_iter_forward, 1}, {map_iter_backward, 1}, {map_from_arrays, 2},
     {compare, 2}, {is_identical, 2}, {hash, 2}, {hash, 3},
     {term_to_binary, 1}, {binary_to_term, 2}, {snprintf, 1}, {snprintf, 2},
     {make_ref, 0}, {ref_is_unique, 0}, {unique_integer, 0}, {unique_integer, 1},
     {monotonic_time, 0}, {monotonic_time, 1}, {time_offset, 0}, {time_offset, 1},
     {convert_time_unit, 3}, {now_time, 0}, {cpu_time, 0},
     {raise, 1}, {badarg, 0}, {pending_exception, 1}, {make_existing_atom, 1},
     {atom_length, 1}, {atom_to_latin1, 1}, {latin1_to_atom, 1}, {latin1_to_string, 1},
     {string_to_latin1, 1}, {get_atom_buf, 2}, {get_string_buf, 2},
     {fdiv, 2}, {big_ints, 0}, {self_alive, 0}, {pid_roundtrip, 1}, {undefined_pid, 0},
     {port_alive, 1}, {getenv, 2}, {system_info, 0}, {fprintf, 1}, {pid_alive, 1},
     {monitor_term, 1}, {resource_roundtrip, 1}, {binary_part, 3}, {dlsym_found, 2}];
functions(nh_binaries) ->
    [{alloc, 1}, {realloc, 3}, {alloc_release, 1}, {make_new_binary, 1}, {sub_binary, 3},
     {sub_sub_binary, 5}, {split, 2}, {checksum, 1}, {iolist_to_binary, 1}, {reverse, 1},
     {concat, 2}, {fill, 2}, {size, 1}, {echo_bin, 1}, {iovec, 2}, {ioq, 2}];
functions(nh_resources) ->
    [{new, 1}, {get, 1}, {set, 2}, {destructor_count, 0}, {live_count, 0}, {keep, 1},
     {release, 1}, {make_binary_from_resource, 1}, {is_resource, 1}, {new_other, 1},
     {get_other, 1}, {new_dyn, 1}, {dyn_call, 2}, {size_of, 1}];
functions(nh_messages) ->
    [{self, 0}, {send_self, 1}, {send_to, 2}, {send_from_alloc_env, 2}, {send_n, 2},
     {send_from_thread, 2}, {whereis, 1}, {whereis_port, 1}, {port_command, 2},
     {is_process_alive, 1},
     {monitor, 1}, {demonitor, 1}, {compare_monitors, 2}, {down_count, 0}];
functions(nh_sched) ->
    [{countdown, 1}, {yielding_sum, 1}, {consume_timeslice, 1}, {dirty_cpu, 1},
     {dirty_io, 1}, {dirty_cpu_type, 0}, {dirty_io_type, 0}, {dirty_sleep, 1},
     {schedule_to_dirty, 1}, {thread_type, 0}, {thread_sum, 2}, {trylocks, 0},
     {cond_signal, 0}];
functions(nh_upgrade) ->
    [{version, 0}, {load_info, 0}, {priv_counts, 0}];
functions(nh_faults) ->
    [{segfault, 0}, {abort, 0}, {wild_write, 2}, {read_secret, 2}, {infinite_loop, 0},
     {stack_overflow, 1}, {memory_bomb, 0}, {exit, 1}, {raise_from_thread, 0},
     {double_free, 0}, {divide_by_zero, 0}, {raise_signal, 1}, {scribble_shm, 0}, {sleep_ms, 1},
     {ok, 0}];
functions(nh_meta) ->
    [{hello, 0}, {sum, 2}, {dirty_sum, 1}];
functions(nh_load_fail) -> [{never, 0}];
functions(nh_bad_version) -> [{never, 0}];
functions(nh_dup_funcs) -> [{twice, 1}, {once, 0}];
functions(nh_no_init) -> [].

%% --- sample terms ------------------------------------------------------------

samples() ->
    Port = hd(erlang:ports()),
    Big = maps:from_list([{K, K * K} || K <- lists:seq(1, 40)]),
    [0, 1, -1, 42, (1 bsl 59) - 1, 1 bsl 59, -(1 bsl 59), -(1 bsl 59) - 1,
     (1 bsl 63) - 1, 1 bsl 63, (1 bsl 64) - 1, 1 bsl 64, -(1 bsl 63), -(1 bsl 63) - 1,
     1 bsl 200, -(1 bsl 200),
     0.0, -0.0, 1.5, -2.25e-300, 1.0e300,
     a, '', 'hello world', list_to_atom([233, 0, 255]), list_to_atom([300]),
     <<>>, <<1, 2, 3>>, binary:copy(<<"x">>, 100), binary:copy(<<"y">>, 1000), <<1:3>>,
     [], [1, 2, 3], "abc", [1 | 2], [a, [b, [c]]],
     {}, {a}, {a, b, {c, d}}, list_to_tuple(lists:seq(1, 300)),
     #{}, #{a => 1, b => [2]}, Big,
     self(), Port, make_ref(), fun lists:map/2, fun(X) -> X end].

%% --- nh_terms ------------------------------------------------------------------

suite(nh_terms) ->
    M = nh_terms,
    S = samples(),
    ?CHECK(noop, M:noop(), ok),
    ?CHECK(add, M:add(40, 2), 42),
    ?CHECK(add_neg, M:add(-(1 bsl 63), (1 bsl 63) - 1), -1),
    ?RAISES(add_overflow, M:add((1 bsl 63) - 1, 1), error, badarg),
    ?RAISES(add_underflow, M:add(-(1 bsl 63), -1), error, badarg),
    ?RAISES(add_bignum, M:add(1 bsl 64, 0), error, badarg),
    ?RAISES(add_atom, M:add(a, 0), error, badarg),
    [?CHECK({echo, T}, M:echo(T), T) || T <- S],
    [?CHECK({make_copy, T}, M:make_copy(T), T) || T <- S],
    Ints = [0, 1, -1, 2147483647, -2147483648, 2147483648, 4294967295, 4294967296,
            (1 bsl 63) - 1, 1 bsl 63, (1 bsl 64) - 1, 1 bsl 64, -(1 bsl 63), -(1 bsl 63) - 1,
            1.0, a],
    Ranges = [{roundtrip_int, -(1 bsl 31), (1 bsl 31) - 1},
              {roundtrip_uint, 0, (1 bsl 32) - 1},
              {roundtrip_long, -(1 bsl 63), (1 bsl 63) - 1},
              {roundtrip_ulong, 0, (1 bsl 64) - 1},
              {roundtrip_int64, -(1 bsl 63), (1 bsl 63) - 1},
              {roundtrip_uint64, 0, (1 bsl 64) - 1}],
    [case is_integer(I) andalso I >= Lo andalso I =< Hi of
         true -> ?CHECK({F, I}, M:F(I), I);
         false -> ?RAISES({F, I}, M:F(I), error, badarg)
     end || {F, Lo, Hi} <- Ranges, I <- Ints],
    [?CHECK({roundtrip_double, D}, M:roundtrip_double(D), D)
     || D <- [0.0, -0.0, 1.5, 1.0e300, -2.25e-300, 5.0e-324]],
    ?RAISES(roundtrip_double_int, M:roundtrip_double(1), error, badarg),
    Latin1Atoms = [a, '', 'hello world', list_to_atom([233, 0, 255]),
                   list_to_atom(lists:duplicate(255, $z))],
    [?CHECK({roundtrip_atom, A}, M:roundtrip_atom(A), A) || A <- Latin1Atoms],
    ?RAISES(roundtrip_atom_unicode, M:roundtrip_atom(list_to_atom([300])), error, badarg),
    ?RAISES(roundtrip_atom_int, M:roundtrip_atom(1), error, badarg),
    [?CHECK({roundtrip_string, Str}, M:roundtrip_string(Str), Str)
     || Str <- ["", "abc", [0, 255, 1], lists:duplicate(5000, $q)]],
    ?RAISES(roundtrip_string_unicode, M:roundtrip_string([256]), error, badarg),
    ?RAISES(roundtrip_string_improper, M:roundtrip_string([$a | $b]), error, badarg),
    [?CHECK({roundtrip_tuple, T}, M:roundtrip_tuple(T), T) || T <- S, is_tuple(T)],
    [?CHECK({roundtrip_list, T}, M:roundtrip_list(T), T) || T <- S, is_list(T)],
    ?CHECK(roundtrip_list_long, M:roundtrip_list(lists:seq(1, 1000)), lists:seq(1, 1000)),
    [?CHECK({roundtrip_map, T}, M:roundtrip_map(T), T) || T <- S, is_map(T)],
    [?RAISES({roundtrip_map_bad, T}, M:roundtrip_map(T), error, badarg)
     || T <- [a, [], {}]],
    [?CHECK({type_of, T}, M:type_of(T), expected_type(T)) || T <- S],
    ?CHECK(list_from_tuple, M:list_from_tuple({a, b, c}), [a, b, c]),
    ?CHECK(list_from_tuple_0, M:list_from_tuple({}), []),
    ?CHECK(reverse_list, M:reverse_list([1, 2, 3]), [3, 2, 1]),
    ?CHECK(reverse_list_empty, M:reverse_list([]), []),
    ?RAISES(reverse_list_improper, M:reverse_list([1 | 2]), error, badarg),
    ?CHECK(list_cell, M:list_cell([1, 2]), {1, [2]}),
    ?CHECK(list_cell_improper, M:list_cell([1 | 2]), {1, 2}),
    ?RAISES(list_cell_empty, M:list_cell([]), error, badarg),
    ?CHECK(list_length, M:list_length(lists:seq(1, 77)), 77),
    ?RAISES(list_length_improper, M:list_length([1, 2 | 3]), error, badarg),
    ?CHECK(prepend, M:prepend(1, 2), [1 | 2]),
    ?CHECK(make_list3, M:make_list3(a, "b", {c}), [a, "b", {c}]),
    ?CHECK(tuple_size, M:tuple_size({1, 2, 3}), 3),
    ?CHECK(tuple_element, M:tuple_element({x, y, z}, 2), y),
    ?RAISES(tuple_element_range, M:tuple_element({x}, 2), error, badarg),
    ?RAISES(tuple_element_zero, M:tuple_element({x}, 0), error, badarg),
    ?CHECK(tuple_from_list, M:tuple_from_list([1, 2]), {1, 2}),
    ?RAISES(tuple_from_list_improper, M:tuple_from_list([1 | 2]), error, badarg),
    ?CHECK(make_tuple3, M:make_tuple3(1, 2, 3), {1, 2, 3}),
    Es = [a, b, c, d, e, f, g, h, i],
    ?CHECK(fixed_arity, M:fixed_arity(),
           list_to_tuple([list_to_tuple(lists:sublist(Es, N)) || N <- lists:seq(0, 9)] ++
                         [lists:sublist(Es, N) || N <- lists:seq(0, 9)])),
    Big = maps:from_list([{K, K * K} || K <- lists:seq(1, 40)]),
    ?CHECK(new_map, M:new_map(), #{}),
    ?CHECK(map_put, M:map_put(#{a => 1}, b, 2), #{a => 1, b => 2}),
    ?CHECK(map_put_replace, M:map_put(#{a => 1}, a, 2), #{a => 2}),
    ?CHECK(map_put_big, M:map_put(Big, 1.0, x), Big#{1.0 => x}),
    ?RAISES(map_put_not_map, M:map_put([], a, 1), error, badarg),
    ?CHECK(map_update, M:map_update(#{a => 1}, a, 2), {ok, #{a => 2}}),
    ?CHECK(map_update_missing, M:map_update(#{a => 1}, 1.0, 2), error),
    ?CHECK(map_remove, M:map_remove(#{a => 1, b => 2}, a), #{b => 2}),
    ?CHECK(map_remove_missing, M:map_remove(#{a => 1}, c), #{a => 1}),
    ?CHECK(map_remove_big, M:map_remove(Big, 7), maps:remove(7, Big)),
    ?CHECK(map_get, M:map_get(#{a => 1}, a), {ok, 1}),
    ?CHECK(map_get_missing, M:map_get(#{1 => 1}, 1.0), error),
    ?CHECK(map_get_big, M:map_get(Big, 33), {ok, 33 * 33}),
    ?CHECK(map_size, M:map_size(Big), 40),
    %% The iterator visits pairs in maps:next/1 order (for maps of more
    %% than 32 keys that is the reverse of maps:to_list/1).
    IterMaps = [#{}, #{a => 1}, #{b => 1, a => 2, 1 => 3}, Big,
                maps:from_list([{K, K} || K <- lists:seq(1, 2000)])],
    [?CHECK({map_iter_forward, map_size(Mp)}, M:map_iter_forward(Mp), iterator_order(Mp))
     || Mp <- IterMaps],
    [?CHECK({map_iter_backward, map_size(Mp)}, M:map_iter_backward(Mp),
            lists:reverse(iterator_order(Mp)))
     || Mp <- IterMaps],
    ?CHECK(map_from_arrays, M:map_from_arrays([a, b], [1, 2]), {ok, #{a => 1, b => 2}}),
    ?CHECK(map_from_arrays_empty, M:map_from_arrays([], []), {ok, #{}}),
    ?CHECK(map_from_arrays_big, M:map_from_arrays(maps:keys(Big), maps:values(Big)), {ok, Big}),
    ?CHECK(map_from_arrays_dup, M:map_from_arrays([a, b, a], [1, 2, 3]), error),
    %% OTP 25 detects duplicate keys only for small maps: with more than 32
    %% keys the call succeeds and the last value wins.
    show(map_from_arrays_dup_big, M:map_from_arrays(lists:seq(1, 40) ++ [5], lists:seq(1, 41))),
    ?RAISES(map_from_arrays_len, M:map_from_arrays([a], []), error, badarg),
    [?CHECK({compare, A, B}, M:compare(A, B), order(A, B)) || A <- S, B <- S],
    [?CHECK({is_identical, A, B}, M:is_identical(A, B), A =:= B) || A <- S, B <- S],
    [?CHECK({phash2, T}, M:hash(phash2, T), erlang:phash2(T)) || T <- S],
    [?CHECK({phash2_salt, T}, M:hash(phash2, T, 12345), erlang:phash2(T)) || T <- S],
    [?CHECK({internal_hash_stable, T}, M:hash(internal, T, 7), M:hash(internal, T, 7)) || T <- S],
    ?RAISES(hash_type, M:hash(md5, a), error, badarg),
    [?CHECK({term_to_binary, T}, M:term_to_binary(T), term_to_binary(T)) || T <- S],
    [?CHECK({binary_to_term, T}, M:binary_to_term(term_to_binary(T), unsafe),
            {T, byte_size(term_to_binary(T))}) || T <- S],
    [?CHECK({binary_to_term_safe, T}, M:binary_to_term(term_to_binary(T), safe),
            {T, byte_size(term_to_binary(T))}) || T <- S],
    ?CHECK(binary_to_term_trailing, M:binary_to_term(<<(term_to_binary(abc))/binary, 1, 2>>, safe),
           {abc, byte_size(term_to_binary(abc))}),
    NewAtom = <<131, 100, 0, 20, "nif_smoke_fresh_atom">>,
    ?RAISES(binary_to_term_safe_new_atom, M:binary_to_term(NewAtom, safe), error, badarg),
    ?CHECK(binary_to_term_unsafe_new_atom, element(2, M:binary_to_term(NewAtom, unsafe)), 24),
    ?RAISES(binary_to_term_garbage, M:binary_to_term(<<131, 255>>, unsafe), error, badarg),
    [?CHECK({snprintf, T}, M:snprintf(T), iolist_to_binary(io_lib:format("~w", [T])))
     || T <- [a, 42, -7, {a, [b, c]}, [1, 2, 3], list_to_tuple(lists:seq(1, 200)),
              1 bsl 70]],
    ?CHECK(snprintf_truncates, M:snprintf(abcdef, 4), <<"abc", 0>>),
    ?CHECK(snprintf_fits, M:snprintf(abcdef, 8), <<"abcdef", 0, $#>>),
    ?CHECK(snprintf_big, M:snprintf(lists:seq(1, 10000)),
           iolist_to_binary(io_lib:format("~w", [lists:seq(1, 10000)]))),
    %% The BEAM's %T gives up on very large terms and ends them with "... ".
    show(snprintf_huge_tail, binary:part(M:snprintf(lists:seq(1, 100000)), 588880, 13)),
    ?CHECK(make_ref, is_reference(M:make_ref()), true),
    ?CHECK(ref_is_unique, M:ref_is_unique(), true),
    U1 = M:unique_integer(),
    U2 = M:unique_integer(),
    ?CHECK(unique_integer_monotonic, U1 > 0 andalso U2 > U1, true),
    ?CHECK(unique_integer_flags, is_integer(M:unique_integer([positive])), true),
    ?RAISES(unique_integer_badflag, M:unique_integer([sideways]), error, badarg),
    Mono = M:monotonic_time(),
    ?CHECK(monotonic_time, abs(Mono - erlang:monotonic_time(nanosecond)) < 1000000000, true),
    ?CHECK(monotonic_time_unit,
           abs(M:monotonic_time(millisecond) - erlang:monotonic_time(millisecond)) < 1000, true),
    ?CHECK(time_offset, abs(M:time_offset() - erlang:time_offset(nanosecond)) < 1000000000, true),
    ?CHECK(time_offset_unit, abs(M:time_offset(second) - erlang:time_offset(second)) =< 1, true),
    [?CHECK({convert_time_unit, V, F, T}, M:convert_time_unit(V, F, T),
            erlang:convert_time_unit(V, F, T))
     || V <- [0, 1, 999, 1500, -1, -1500, 123456789],
        F <- [second, millisecond, microsecond, nanosecond],
        T <- [second, millisecond, microsecond, nanosecond]],
    %% Overflowing int64 is not an error in the BEAM: the result wraps.
    show(convert_time_unit_overflow, M:convert_time_unit(123456789123, second, nanosecond)),
    ?CHECK(convert_time_unit_bad, M:convert_time_unit(1, 42, second), error),
    ?CHECK(monotonic_time_bad, M:monotonic_time(42), error),
    ?CHECK(now_time, tuple_size(M:now_time()), 3),
    ?CHECK(cpu_time, tuple_size(M:cpu_time()), 3),
    [?RAISES({raise, R}, M:raise(R), error, R) || R <- [foo, {a, 1}, [x], 1 bsl 80]],
    ?RAISES(badarg, M:badarg(), error, badarg),
    ?RAISES(pending_exception, M:pending_exception({why, 1}), error, {why, 1}),
    ?CHECK(make_existing_atom, M:make_existing_atom(<<"ok">>), {ok, ok}),
    ?CHECK(make_existing_atom_latin1, M:make_existing_atom(<<"h", 233>>),
           {ok, list_to_atom([$h, 233])}),
    ?CHECK(make_existing_atom_missing,
           M:make_existing_atom(<<"nif_smoke_never_made_atom_q8">>), error),
    ?CHECK(atom_length, M:atom_length(list_to_atom([$h, 233, $l])), 3),
    ?RAISES(atom_length_unicode, M:atom_length(list_to_atom([300])), error, badarg),
    ?CHECK(atom_to_latin1, M:atom_to_latin1(list_to_atom([$h, 233, 0])), <<$h, 233, 0>>),
    ?CHECK(latin1_to_atom, M:latin1_to_atom(<<$h, 233>>), list_to_atom([$h, 233])),
    ?CHECK(latin1_to_atom_255, M:latin1_to_atom(binary:copy(<<"k">>, 255)),
           list_to_atom(lists:duplicate(255, $k))),
    ?RAISES(latin1_to_atom_256, M:latin1_to_atom(binary:copy(<<"k">>, 256)), error, badarg),
    ?CHECK(latin1_to_string, M:latin1_to_string(<<"ab", 233, 0, "cd">>), [$a, $b, 233]),
    ?CHECK(string_to_latin1, M:string_to_latin1([104, 233, 0]), <<104, 233, 0>>),
    ?RAISES(string_to_latin1_unicode, M:string_to_latin1([104, 300]), error, badarg),
    show(get_atom_buf, [M:get_atom_buf(abc, N) || N <- [0, 1, 2, 3, 4, 5]]),
    show(get_string_buf, [M:get_string_buf("abc", N) || N <- [0, 1, 2, 3, 4, 5]]),
    ?CHECK(get_atom_buf_fits, M:get_atom_buf(abc, 5), {4, <<"abc", 0, 16#AA>>}),
    ?CHECK(get_string_buf_fits, M:get_string_buf("abc", 5), {4, <<"abc", 0, 16#AA>>}),
    ?CHECK(fdiv, M:fdiv(1.0, 4.0), 0.25),
    ?RAISES(fdiv_inf, M:fdiv(1.0, 0.0), error, badarg),
    ?RAISES(fdiv_nan, M:fdiv(0.0, 0.0), error, badarg),
    ?CHECK(big_ints, M:big_ints(),
           {-(1 bsl 31), (1 bsl 31) - 1, (1 bsl 32) - 1, -(1 bsl 63), (1 bsl 63) - 1,
            (1 bsl 64) - 1, -(1 bsl 63), (1 bsl 63) - 1, (1 bsl 64) - 1,
            (1 bsl 59) - 1, 1 bsl 59, -(1 bsl 59), -(1 bsl 59) - 1, 1 bsl 63}),
    ?CHECK(self_alive, M:self_alive(), true),
    ?CHECK(pid_roundtrip, M:pid_roundtrip(self()), self()),
    ?RAISES(pid_roundtrip_atom, M:pid_roundtrip(a), error, badarg),
    ?CHECK(undefined_pid, M:undefined_pid(), {true, false}),
    Port = open_port({spawn, "cat"}, []),
    ?CHECK(port_alive, M:port_alive(Port), true),
    close_port(Port),
    ?CHECK(port_alive_closed, M:port_alive(Port), false),
    ?RAISES(port_alive_pid, M:port_alive(self()), error, badarg),
    os:putenv("NIF_SMOKE_VAR", "value-123"),
    ?CHECK(getenv, M:getenv(<<"NIF_SMOKE_VAR">>, 64), {ok, <<"value-123">>}),
    ?CHECK(getenv_missing, M:getenv(<<"NIF_SMOKE_NOT_SET">>, 64), not_found),
    ?CHECK(getenv_small, element(1, M:getenv(<<"NIF_SMOKE_VAR">>, 3)), too_small),
    show(getenv_small, M:getenv(<<"NIF_SMOKE_VAR">>, 3)),
    [?CHECK({fprintf, T}, M:fprintf(T), M:snprintf(T)) || T <- S],
    ?CHECK(fprintf_text, M:fprintf({a, [1, 2]}), <<"{a,[1,2]}">>),
    ?CHECK(pid_alive, M:pid_alive(self()), true),
    Gone = spawn(fun() -> ok end),
    wait_dead(Gone),
    ?CHECK(pid_alive_dead, M:pid_alive(Gone), false),
    ?CHECK(monitor_term, M:monitor_term(self()), true),
    ?CHECK(monitor_term_dead, M:monitor_term(Gone), noproc),
    [?CHECK({resource_roundtrip, V}, M:resource_roundtrip(V), {V, integer_to_binary(V)})
     || V <- [0, -1, 1 bsl 62, -(1 bsl 63)]],
    Data = list_to_binary(lists:seq(1, 100)),
    ?CHECK(binary_part, M:binary_part(Data, 10, 5), binary:part(Data, 10, 5)),
    ?CHECK(binary_part_end, M:binary_part(Data, 100, 0), <<>>),
    ?RAISES(binary_part_range, M:binary_part(Data, 99, 2), error, badarg),
    Lib = get(nh_terms_path),
    ?CHECK(dlsym_found, M:dlsym_found(Lib, "nif_init"), true),
    ?CHECK(dlsym_missing, M:dlsym_found(Lib, "no_such_symbol_xyz"), false),
    ?CHECK(dlopen_missing, M:dlsym_found(Lib ++ "_missing", "nif_init"), false),
    SI = M:system_info(),
    show(system_info, SI),
    ?CHECK(system_info_nif_version, {element(9, SI), element(10, SI)}, {2, 16}),
    ?CHECK(system_info_otp, element(4, SI), erlang:system_info(otp_release)),
    ?CHECK(system_info_erts, element(3, SI), erlang:system_info(version)),
    ?CHECK(system_info_schedulers, element(8, SI), erlang:system_info(schedulers)),
    ok;

%% --- nh_binaries ---------------------------------------------------------------

suite(nh_binaries) ->
    M = nh_binaries,
    Bins = [<<>>, <<1>>, <<"hello">>, binary:copy(<<"abc">>, 100),
            binary:copy(<<7>>, 100000), binary:part(binary:copy(<<"xyz">>, 50), 3, 100)],
    [?CHECK({alloc, B}, M:alloc(B), B) || B <- Bins],
    [?CHECK({make_new_binary, B}, M:make_new_binary(B), B) || B <- Bins],
    [?CHECK({echo_bin, B}, M:echo_bin(B), B) || B <- Bins],
    [?CHECK({size, B}, M:size(B), byte_size(B)) || B <- Bins],
    [?CHECK({reverse, B}, M:reverse(B), list_to_binary(lists:reverse(binary_to_list(B))))
     || B <- Bins],
    [?CHECK({checksum, B}, M:checksum(B), lists:sum(binary_to_list(B))) || B <- Bins],
    [?CHECK({concat, A, B}, M:concat(A, B), <<A/binary, B/binary>>) || A <- Bins, B <- Bins],
    [?RAISES({not_binary, F}, M:F(<<1:3>>), error, badarg)
     || F <- [alloc, make_new_binary, echo_bin, size, reverse, checksum]],
    ?RAISES(size_list, M:size([1]), error, badarg),
    Pattern = fun(From, To) -> << <<(16#5A bxor (I band 255))>> || I <- lists:seq(From, To - 1) >> end,
    ?CHECK(realloc_grow_shrink, M:realloc(<<"abc">>, 100, 50),
           binary:part(<<"abc", (Pattern(3, 100))/binary>>, 0, 50)),
    ?CHECK(realloc_shrink_into_data, M:realloc(<<"abcdef">>, 10, 2), <<"ab">>),
    ?CHECK(realloc_big, M:realloc(<<"q">>, 1 bsl 20, 1 bsl 20),
           <<"q", (Pattern(1, 1 bsl 20))/binary>>),
    ?RAISES(realloc_bad, M:realloc(<<"abc">>, 2, 1), error, badarg),
    [?CHECK({alloc_release, N}, M:alloc_release(N), ok) || N <- [0, 1, 1000, 1 bsl 20]],
    Data = list_to_binary(lists:seq(0, 255)),
    [?CHECK({sub_binary, P, L}, M:sub_binary(Data, P, L), binary:part(Data, P, L))
     || {P, L} <- [{0, 0}, {0, 256}, {10, 20}, {255, 1}, {256, 0}]],
    ?RAISES(sub_binary_range, M:sub_binary(Data, 250, 7), error, badarg),
    ?CHECK(sub_sub_binary, M:sub_sub_binary(Data, 10, 100, 5, 20), binary:part(Data, 15, 20)),
    ?RAISES(sub_sub_binary_range, M:sub_sub_binary(Data, 10, 10, 5, 6), error, badarg),
    ?CHECK(split, M:split(<<"hello world">>, 5), {<<"hello">>, <<" world">>}),
    IoLists = [[], [<<"a">>, "bc", [[$d], <<>>]], [1, [2, [3, [4, <<5, 6>>]]] | <<7>>],
               <<"plain">>, lists:duplicate(1000, "xy")],
    [?CHECK({iolist_to_binary, L}, M:iolist_to_binary(L), iolist_to_binary(L)) || L <- IoLists],
    [?RAISES({iolist_to_binary_bad, L}, M:iolist_to_binary(L), error, badarg)
     || L <- [[256], [a], [-1], atom, [<<1:3>>], [1 | a]]],
    [?CHECK({fill, N, B}, M:fill(N, B), binary:copy(<<B>>, N))
     || {N, B} <- [{0, 0}, {1, 255}, {100, $a}, {16 bsl 20, 16#CC}]],
    ?RAISES(fill_byte, M:fill(1, 256), error, badarg),
    ?CHECK(iovec_all, M:iovec([<<"ab">>, <<"cd">>, <<>>, <<"e">>], 100), {<<"abcde">>, []}),
    ?CHECK(iovec_max, M:iovec([<<"ab">>, <<"cd">>, <<"e">>], 2), {<<"abcd">>, [<<"e">>]}),
    ?RAISES(iovec_bad, M:iovec([<<"ab">>, 3], 10), error, badarg),
    ?CHECK(ioq, M:ioq([<<"hello">>, <<" ">>, <<"world">>], 3),
           {<<"hello">>, 12, 9, <<"lo world!">>}),
    ?CHECK(ioq_all, M:ioq([<<"ab">>], 3), {<<"ab">>, 3, 0, <<>>}),
    ok;

%% --- nh_resources --------------------------------------------------------------

suite(nh_resources) ->
    M = nh_resources,
    Live0 = M:live_count(),
    Dtors0 = M:destructor_count(),
    R = M:new(5),
    ?CHECK(new_live, M:live_count(), Live0 + 1),
    ?CHECK(get, M:get(R), 5),
    ?CHECK(set, M:set(R, -(1 bsl 62)), ok),
    ?CHECK(get_after_set, M:get(R), -(1 bsl 62)),
    ?CHECK(is_resource, M:is_resource(R), counter),
    ?CHECK(is_resource_ref, M:is_resource(make_ref()), false),
    ?CHECK(is_resource_int, M:is_resource(1), false),
    ?CHECK(resource_is_ref, is_reference(R), true),
    ?CHECK(size_of, M:size_of(R), 56),
    O = M:new_other(9),
    ?CHECK(get_other, M:get_other(O), 9),
    ?CHECK(is_resource_other, M:is_resource(O), other),
    ?RAISES(get_wrong_type, M:get(O), error, badarg),
    ?RAISES(get_other_wrong_type, M:get_other(R), error, badarg),
    ?RAISES(get_not_resource, M:get(make_ref()), error, badarg),
    ?CHECK(size_of_other, M:size_of(O), 8),
    D = M:new_dyn(30),
    ?CHECK(dyn_call, M:dyn_call(D, 12), {ok, 42}),
    ?CHECK(dyn_call_wrong_type, M:dyn_call(R, 12), error),
    ?CHECK(is_resource_dyn, M:is_resource(D), dyn),
    %% Destructors run once the terms are garbage.
    Created = M:live_count() - Live0,
    ?CHECK(created_three, Created, 3),
    dropped(fun() -> M:new(1) end),
    ?CHECK(dtor_after_gc, wait_until(fun() -> M:destructor_count() > Dtors0 end), true),
    %% keep/1 holds an object past its last term; release/1 lets it go.
    LiveK = settled(fun M:live_count/0),
    {Kept, _} = spawn_opt_result(fun() -> K = M:new(2), ok = M:keep(K), K end),
    ?CHECK(kept_alive, begin erlang:garbage_collect(), M:live_count() end, LiveK + 1),
    ?CHECK(kept_value, M:get(Kept), 2),
    ?CHECK(release, M:release(Kept), ok),
    %% A resource binary keeps its resource alive.
    Self = self(),
    spawn(fun() -> B = M:make_binary_from_resource(M:new(77)), Self ! {bin, B} end),
    Bin = receive {bin, B} -> B after 5000 -> timeout end,
    ?CHECK(resource_binary, Bin, <<"counter:77">>),
    ?CHECK(resource_binary_sub, binary:part(Bin, 8, 2), <<"77">>),
    LiveB = M:live_count(),
    ?CHECK(resource_binary_keeps_alive, LiveB >= 1, true),
    %% Resource types are taken over by an upgrade: objects made before it
    %% stay readable and their destructors still count.
    ?CHECK(upgrade_resources, nif_stub:load(get(nh_resources_path), M, functions(M), []), ok),
    ?CHECK(get_after_upgrade, M:get(R), -(1 bsl 62)),
    ?CHECK(get_other_after_upgrade, M:get_other(O), 9),
    ?CHECK(dyn_call_after_upgrade, M:dyn_call(D, 1), {ok, 31}),
    LiveU = settled(fun M:live_count/0),
    dropped(fun() -> M:new(3) end),
    ?CHECK(dtor_after_upgrade, wait_until(fun() -> M:live_count() =:= LiveU end), true),
    _ = [R, O, D, Kept],
    ok;

%% --- nh_messages -----------------------------------------------------------------

suite(nh_messages) ->
    M = nh_messages,
    Self = self(),
    ?CHECK(self, M:self(), Self),
    Msgs = [hello, {a, [1, 2]}, <<"bin">>, binary:copy(<<"z">>, 10000), #{k => v}, 1 bsl 100],
    [begin
         ?CHECK({send_self, Msg}, M:send_self(Msg), true),
         ?CHECK({send_self_recv, Msg}, recv(), Msg)
     end || Msg <- Msgs],
    Echo = spawn_link(fun Loop() -> receive {From, X} -> From ! {echoed, X}, Loop() end end),
    [begin
         ?CHECK({send_to, Msg}, M:send_to(Echo, {Self, Msg}), true),
         ?CHECK({send_to_recv, Msg}, recv(), {echoed, Msg}),
         ?CHECK({send_from_alloc_env, Msg}, M:send_from_alloc_env(Echo, {Self, Msg}), true),
         ?CHECK({send_from_alloc_env_recv, Msg}, recv(), {echoed, Msg}),
         ?CHECK({send_from_thread, Msg}, M:send_from_thread(Echo, {Self, Msg}), true),
         ?CHECK({send_from_thread_recv, Msg}, recv(), {echoed, Msg})
     end || Msg <- Msgs],
    ?CHECK(send_n, M:send_n(Self, 100), ok),
    ?CHECK(send_n_order, [recv() || _ <- lists:seq(1, 100)],
           [{nh_seq, I} || I <- lists:seq(1, 100)]),
    Dead = spawn(fun() -> ok end),
    wait_dead(Dead),
    ?CHECK(send_to_dead, M:send_to(Dead, x), false),
    ?CHECK(send_from_alloc_env_dead, M:send_from_alloc_env(Dead, x), false),
    ?RAISES(send_to_atom, M:send_to(a, x), error, badarg),
    register(nif_smoke_named, Echo),
    ?CHECK(whereis, M:whereis(nif_smoke_named), Echo),
    ?CHECK(whereis_unregistered, M:whereis(nif_smoke_nobody), undefined),
    ?CHECK(whereis_port, M:whereis_port(nif_smoke_nobody), undefined),
    Port = open_port({spawn, "cat"}, []),
    register(nif_smoke_port, Port),
    ?CHECK(whereis_port_found, M:whereis_port(nif_smoke_port), {port, true}),
    ?CHECK(whereis_pid_of_port, M:whereis(nif_smoke_port), undefined),
    ?CHECK(port_command, M:port_command(Port, [<<"to ">>, "cat"]), true),
    ?CHECK(port_command_echo, recv_port_data(Port, 6), "to cat"),
    close_port(Port),
    ?CHECK(port_command_closed, M:port_command(Port, <<"x">>), false),
    ?CHECK(is_process_alive, M:is_process_alive(Echo), true),
    ?CHECK(is_process_alive_dead, M:is_process_alive(Dead), false),
    Downs0 = M:down_count(),
    Victim = spawn(fun() -> receive stop -> ok end end),
    {Res, MonTerm} = M:monitor(Victim),
    ?CHECK(monitor_term, is_reference(MonTerm), true),
    {Res2, _} = M:monitor(Victim),
    ?CHECK(compare_monitors_self, M:compare_monitors(Res, Res), 0),
    ?CHECK(compare_monitors_other, M:compare_monitors(Res, Res2) =/= 0, true),
    ?CHECK(demonitor, M:demonitor(Res2), true),
    ?CHECK(demonitor_twice, M:demonitor(Res2), false),
    Victim ! stop,
    ?CHECK(down_message, recv(), {nh_down, Res, Victim}),
    ?CHECK(down_count, M:down_count(), Downs0 + 1),
    ?CHECK(monitor_dead, M:monitor(Dead), {error, noproc}),
    ?CHECK(no_stray_messages, flush(), []),
    unlink(Echo),
    exit(Echo, kill),
    ok;

%% --- nh_sched ----------------------------------------------------------------------

suite(nh_sched) ->
    M = nh_sched,
    Sum = fun(N) -> (N * (N + 1) div 2) band ((1 bsl 64) - 1) end,
    [?CHECK({countdown, N}, M:countdown(N), {done, N}) || N <- [0, 1, 10, 1000]],
    [?CHECK({yielding_sum, N}, M:yielding_sum(N), Sum(N)) || N <- [0, 1, 100, 20000, 20001, 10000000]],
    [?CHECK({dirty_cpu, N}, M:dirty_cpu(N), Sum(N)) || N <- [0, 1, 1000000]],
    [?CHECK({dirty_io, N}, M:dirty_io(N), Sum(N)) || N <- [0, 1, 1000000]],
    ?CHECK(consume_timeslice, is_boolean(M:consume_timeslice(1)), true),
    ?CHECK(consume_timeslice_full, M:consume_timeslice(100), true),
    ?RAISES(consume_timeslice_bad, M:consume_timeslice(0), error, badarg),
    ?CHECK(thread_type, M:thread_type(), normal),
    ?CHECK(dirty_cpu_type, M:dirty_cpu_type(), dirty_cpu),
    ?CHECK(dirty_io_type, M:dirty_io_type(), dirty_io),
    T0 = erlang:monotonic_time(millisecond),
    ?CHECK(dirty_sleep, M:dirty_sleep(50), ok),
    ?CHECK(dirty_sleep_slept, erlang:monotonic_time(millisecond) - T0 >= 50, true),
    ?CHECK(schedule_to_dirty, M:schedule_to_dirty(1000), {[normal, dirty_cpu, normal], Sum(1000)}),
    [?CHECK({thread_sum, T, P}, M:thread_sum(T, P), T * P) || {T, P} <- [{1, 0}, {1, 10}, {8, 10000}, {64, 100}]],
    ?RAISES(thread_sum_bad, M:thread_sum(0, 1), error, badarg),
    ?CHECK(trylocks, M:trylocks(), true),
    ?CHECK(cond_signal, M:cond_signal(), true),
    ok.

%% --- nh_upgrade and the loader ------------------------------------------------------

upgrade(Path) ->
    M = nh_upgrade,
    Fs = functions(M),
    ?CHECK(upgrade_load_v1, nif_stub:load(Path(nh_upgrade), M, Fs, {info, 1}), ok),
    ?CHECK(upgrade_v1_version, M:version(), 1),
    ?CHECK(upgrade_v1_info, M:load_info(), {info, 1}),
    ?CHECK(upgrade_v1_counts, M:priv_counts(), {1, 0, 0}),
    ?CHECK(upgrade_to_v2, nif_stub:load(Path(nh_upgrade_v2), M, Fs, [{info, 2}]), ok),
    ?CHECK(upgrade_v2_version, M:version(), 2),
    ?CHECK(upgrade_v2_info, M:load_info(), [{info, 2}]),
    ?CHECK(upgrade_v2_counts, M:priv_counts(), {1, 1, 0}),
    _ = code:purge(M),
    ?CHECK(upgrade_v1_unloaded, M:priv_counts(), {1, 1, 1}),
    ?CHECK(upgrade_fail, nif_stub:load(Path(nh_upgrade), M, Fs, {fail, 7}),
           {error, {upgrade, "Library upgrade-call unsuccessful (7)."}}),
    ?CHECK(upgrade_still_v2, M:version(), 2),
    ?CHECK(upgrade_v2_again, nif_stub:load(Path(nh_upgrade), M, Fs, again), ok),
    ?CHECK(upgrade_back_to_v1, {M:version(), M:load_info()}, {1, again}),
    ok = nif_stub:unload(M),
    ?CHECK(upgrade_load_fail, nif_stub:load(Path(nh_upgrade_v2), M, Fs, {fail, 3}),
           {error, {load, "Library load-call unsuccessful (3)."}}),
    ?CHECK(upgrade_fresh, nif_stub:load(Path(nh_upgrade_v2), M, Fs, fresh), ok),
    ?CHECK(upgrade_fresh_counts, M:priv_counts(), {1, 0, 0}),
    ok = nif_stub:unload(M),
    ok.

loader_failures(Path) ->
    ?CHECK(load_fail, nif_stub:load(Path(nh_load_fail), nh_load_fail, [{never, 0}], []),
           {error, {load, "Library load-call unsuccessful (42)."}}),
    ?CHECK(bad_version, element(1, nif_stub:load(Path(nh_bad_version), nh_bad_version,
                                                 [{never, 0}], [])), error),
    ?CHECK(no_init, element(1, nif_stub:load(Path(nh_no_init), nh_no_init, [], [])), error),
    ?CHECK(dup_funcs, nif_stub:load(Path(nh_dup_funcs), nh_dup_funcs, functions(nh_dup_funcs), []),
           {error, {bad_lib, "Duplicate NIF entry for nh_dup_funcs:twice/1"}}),
    ?CHECK(meta_not_beam, element(1, nif_stub:load(Path(nh_meta), nh_meta,
                                                   functions(nh_meta), [])), error),
    ?CHECK(missing_function, nif_stub:load(Path(nh_sched), nh_sched, [{countdown, 1}], []),
           {error, {bad_lib, "Function not found nh_sched:yielding_sum/1"}}),
    ok.

%% --- helpers -------------------------------------------------------------------------

expected_type(T) ->
    Type = if is_atom(T) -> atom;
              is_bitstring(T) -> bitstring;
              is_float(T) -> float;
              is_function(T) -> 'fun';
              is_integer(T) -> integer;
              is_list(T) -> list;
              is_map(T) -> map;
              is_pid(T) -> pid;
              is_port(T) -> port;
              is_reference(T) -> reference;
              is_tuple(T) -> tuple
           end,
    {Type, {is_atom(T), is_binary(T), T =:= [], false, is_function(T), is_list(T), is_map(T),
            is_number(T), is_pid(T), is_port(T), is_reference(T), is_tuple(T)}}.

iterator_order(Map) -> next_pairs(maps:next(maps:iterator(Map))).

next_pairs(none) -> [];
next_pairs({K, V, Iter}) -> [{K, V} | next_pairs(maps:next(Iter))].

order(A, B) when A < B -> -1;
order(A, B) when A == B -> 0;
order(_, _) -> 1.

%% Runs F in a short-lived process so nothing but the callee can hold its
%% result, then collects garbage everywhere.
dropped(F) ->
    {_, Ref} = spawn_monitor(fun() -> _ = F(), ok end),
    receive {'DOWN', Ref, _, _, _} -> ok end,
    [erlang:garbage_collect(P) || P <- processes()],
    ok.

spawn_opt_result(F) ->
    Self = self(),
    {Pid, Ref} = spawn_monitor(fun() -> Self ! {result, self(), F()} end),
    Result = receive {result, Pid, R} -> R end,
    receive {'DOWN', Ref, _, _, _} -> ok end,
    {Result, Pid}.

wait_until(F) -> wait_until(F, 100).
wait_until(F, 0) -> F();
wait_until(F, N) ->
    case F() of
        true -> true;
        false -> erlang:garbage_collect(), timer:sleep(10), wait_until(F, N - 1)
    end.

%% Collects garbage everywhere until F() stops changing (destructors of
%% objects that became garbage earlier have run), and returns its value.
settled(F) -> settled(F, F(), 50).
settled(_F, V, 0) -> V;
settled(F, V, N) ->
    [erlang:garbage_collect(P) || P <- processes()],
    timer:sleep(20),
    case F() of
        V -> V;
        V2 -> settled(F, V2, N - 1)
    end.

wait_dead(Pid) ->
    Ref = monitor(process, Pid),
    receive {'DOWN', Ref, _, _, _} -> ok end.

recv() -> receive X -> X after 5000 -> timeout end.

%% Collects N bytes a port sends back (cat may split them).
recv_port_data(_Port, N) when N =< 0 -> [];
recv_port_data(Port, N) ->
    receive {Port, {data, D}} -> D ++ recv_port_data(Port, N - length(D))
    after 5000 -> timeout
    end.

%% Closes a port and swallows the 'EXIT' it sends when the caller traps
%% exits (as the process running erl -eval does).
close_port(Port) ->
    port_close(Port),
    receive {'EXIT', Port, _} -> ok after 100 -> ok end.

flush() -> receive X -> [X | flush()] after 0 -> [] end.

check(Name, F, Expected) ->
    try F() of
        Expected -> bump(passed);
        Other -> fail(Name, {got, Other, expected, Expected})
    catch C:R -> fail(Name, {raised, C, R, expected, Expected})
    end.

raises(Name, F, Class, Reason) ->
    try F() of
        Other -> fail(Name, {returned, Other, expected, {Class, Reason}})
    catch
        Class:Reason -> bump(passed);
        C:R -> fail(Name, {raised, C, R, expected, {Class, Reason}})
    end.

show(Name, Value) -> io:format("  ~p: ~p~n", [Name, Value]).

bump(Key) -> put(Key, get(Key) + 1).

fail(Name, Detail) ->
    bump(failed),
    io:format("FAIL ~0P: ~0P~n", [Name, 8, Detail, 12]).
