#!/usr/bin/env escript
%% -*- erlang -*-
%%! -noshell
%% The real BEAM's side of nifhost_bench_calls: the same NIF functions, with
%% the same arguments, timed inside erl. Prints one JSON object on stdout:
%%   {"otp_release": "25", "erts": "13.1.5",
%%    "rows": [{"name": "Call/beam/nh_terms:noop/0", "median_ns": 41.2,
%%              "min_ns": 40.8, "max_ns": 44.0, "iterations": 242000}, ...],
%%    "errors": []}
%% Row names are nifhost_bench_calls' (Call/<backend>/<suite>:<function>/<payload>)
%% with "beam" as the backend: nh_terms noop/0, add/2, echo/small_term,
%% echo/1KiB_term, echo/<bytes> (a binary of 0 B .. 16 MiB), and
%% jiffy:decode/1KiB (jiffy:decode/2 with [return_maps], its Erlang wrapper
%% included, on the installed jiffy; the document is call_reference_bench.cpp's).
%% Each row: ROUNDS rounds of N calls in a loop that calls the function by
%% name (no fun in between), N sized so that a round lasts about 10 ms
%% (100 ms with "full"); per-call time of the median, fastest and slowest round.
%%
%%   escript bench/beam_side.escript BUILD_DIR/nifs [quick|full]
-mode(compile).

-define(ROUNDS, 7).

main([NifDir]) ->
    main([NifDir, "quick"]);
main([NifDir, Mode]) when Mode =:= "quick"; Mode =:= "full" ->
    put(round_ns, case Mode of "quick" -> 10000000; "full" -> 100000000 end),
    put(errors, []),
    %% Logger reports would land in the JSON on stdout; failures are noted instead.
    _ = logger:remove_handler(default),
    Rows = nh_terms_rows(NifDir) ++ jiffy_rows(),
    io:format("{\"otp_release\": ~s, \"erts\": ~s, \"rows\": [~s], \"errors\": [~s]}~n",
              [json_str(erlang:system_info(otp_release)), json_str(erlang:system_info(version)),
               lists:join(",\n", [row_json(R) || R <- Rows]),
               lists:join(",", [json_str(E) || E <- lists:reverse(get(errors))])]);
main(_) ->
    io:format(standard_error, "usage: beam_side.escript BUILD_DIR/nifs [quick|full]~n", []),
    halt(2).

note_error(Fmt, Args) ->
    put(errors, [lists:flatten(io_lib:format(Fmt, Args)) | get(errors)]).

%% --- nh_terms, loaded through nifs/beam/nif_stub.erl ----------------------------

nh_terms_rows(NifDir) ->
    BeamDir = filename:join([filename:dirname(escript:script_name()), "..", "nifs", "beam"]),
    case {compile_load(filename:join(BeamDir, "nif_stub.erl")),
          compile_load(filename:join(BeamDir, "nif_smoke.erl"))} of
        {ok, ok} ->
            %% nif_smoke knows every function of each suite: the BEAM refuses a
            %% library whose functions the module does not all export.
            case nif_stub:load(filename:join(NifDir, "nh_terms"), nh_terms,
                               nif_smoke:functions(nh_terms), 0) of
                ok -> nh_terms_timed();
                {error, Why} -> note_error("nh_terms did not load in erl: ~p", [Why]), []
            end;
        Error ->
            note_error("cannot compile the NIF stub: ~p", [Error]),
            []
    end.

nh_terms_timed() ->
    %% The first row timed in a fresh VM comes out slow: a throw-away round
    %% warms the schedulers up.
    _ = time_row("warm-up", fun noop_loop/2, none),
    [time_row("Call/beam/nh_terms:noop/0", fun noop_loop/2, none),
     time_row("Call/beam/nh_terms:add/2", fun add_loop/2, {40, 2}),
     time_row("Call/beam/nh_terms:echo/small_term", fun echo_loop/2, small_term()),
     time_row("Call/beam/nh_terms:echo/1KiB_term", fun echo_loop/2, kib_term())] ++
    [time_row("Call/beam/nh_terms:echo/" ++ integer_to_list(Size), fun echo_loop/2,
              binary:copy(<<7>>, Size))
     || Size <- [0, 64, 1024, 65536, 1048576, 16777216]].

%% The payloads of call_bench.cpp (small_term, kib_term).
small_term() -> {ok, 42, <<"abc">>, [1, 2, 3]}.
kib_term() ->
    [{1000 + I, <<"user-", (integer_to_binary(1000 + I))/binary>>, I * 1.5, I rem 2 =:= 0}
     || I <- lists:seq(0, 27)].

noop_loop(0, _) -> ok;
noop_loop(N, A) -> nh_terms:noop(), noop_loop(N - 1, A).

add_loop(0, _) -> ok;
add_loop(N, {X, Y} = A) -> nh_terms:add(X, Y), add_loop(N - 1, A).

echo_loop(0, _) -> ok;
echo_loop(N, T) -> nh_terms:echo(T), echo_loop(N - 1, T).

compile_load(Src) ->
    case compile:file(Src, [binary, return_errors]) of
        {ok, Mod, Bin} ->
            {module, Mod} = code:load_binary(Mod, Src, Bin),
            ok;
        Error ->
            {Src, Error}
    end.

%% --- jiffy ---------------------------------------------------------------------

jiffy_rows() ->
    try
        Doc = json_document(),
        _ = jiffy:decode(Doc, [return_maps]),
        [time_row("Call/beam/jiffy:decode/1KiB", fun jiffy_loop/2, Doc)]
    catch C:R ->
        note_error("jiffy: ~p:~p", [C, R]),
        []
    end.

jiffy_loop(0, _) -> ok;
jiffy_loop(N, Doc) -> jiffy:decode(Doc, [return_maps]), jiffy_loop(N - 1, Doc).

%% call_reference_bench.cpp's json_document(), byte for byte.
json_document() -> json_document(<<"{\"users\": [">>, 0).
json_document(Doc, _) when byte_size(Doc) >= 960 -> <<Doc/binary, "], \"next\": null}">>;
json_document(Doc, I) ->
    Sep = case I of 0 -> <<>>; _ -> <<", ">> end,
    Active = case I rem 2 of 0 -> <<"true">>; _ -> <<"false">> end,
    Record = iolist_to_binary(
               ["{\"id\": ", integer_to_list(1000 + I), ", \"name\": \"user ", integer_to_list(I),
                "\", \"active\": ", Active, ", \"score\": ", integer_to_list(I * 7),
                ".25, \"tags\": [\"a\", \"b\\u00e9\"]}"]),
    json_document(<<Doc/binary, Sep/binary, Record/binary>>, I + 1).

%% --- timing --------------------------------------------------------------------

%% Loop(N, Arg) makes N calls. N is calibrated so a round lasts round_ns.
time_row(Name, Loop, Arg) ->
    N = calibrate(Loop, Arg, 100),
    PerCall = lists:sort([round_ns(Loop, Arg, N) / N || _ <- lists:seq(1, ?ROUNDS)]),
    #{name => Name, median_ns => lists:nth((?ROUNDS + 1) div 2, PerCall),
      min_ns => hd(PerCall), max_ns => lists:last(PerCall), iterations => N * ?ROUNDS}.

calibrate(Loop, Arg, N) ->
    T = round_ns(Loop, Arg, N),
    Target = get(round_ns),
    if
        T >= Target div 10 -> max(1, (N * Target) div max(T, 1));
        true -> calibrate(Loop, Arg, N * 10)
    end.

round_ns(Loop, Arg, N) ->
    garbage_collect(),
    T0 = erlang:monotonic_time(nanosecond),
    Loop(N, Arg),
    erlang:monotonic_time(nanosecond) - T0.

row_json(#{name := Name, median_ns := Med, min_ns := Min, max_ns := Max, iterations := It}) ->
    io_lib:format("{\"name\": ~s, \"median_ns\": ~s, \"min_ns\": ~s, \"max_ns\": ~s, "
                  "\"iterations\": ~b}",
                  [json_str(Name), json_num(Med), json_num(Min), json_num(Max), It]).

json_num(F) -> float_to_list(float(F), [{decimals, 2}, compact]).

json_str(S) ->
    [$", [json_char(C) || C <- unicode:characters_to_list(S)], $"].

json_char($") -> "\\\"";
json_char($\\) -> "\\\\";
json_char(C) when C < 32 -> io_lib:format("\\u~4.16.0b", [C]);
json_char(C) -> C.
