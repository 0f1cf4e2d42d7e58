#!/usr/bin/env escript
%% -*- erlang -*-
%%! -noshell
%% The real BEAM's side of the comparison: the same NIF functions nifhost's
%% benchmarks call (nh_terms), and the real libraries (jiffy, fast_xml,
%% stringprep), timed inside erl. Prints one JSON object on stdout:
%%   {"otp_release": "25", "erts": "13.1.5",
%%    "rows": [{"name": "Call/beam/nh_terms:noop/0", "median_ns": ..., "min_ns": ...,
%%              "max_ns": ..., "iterations": N}, ...],
%%    "errors": ["..."]}
%% Each row: 7 rounds of N calls (N sized so a round lasts ~5 ms quick, ~50 ms
%% full); per-call time of the median, fastest and slowest round.
%%
%%   escript beam_side.escript BUILD/nifs nifs/beam/nif_stub.erl quick|full
-mode(compile).

-define(ROUNDS, 7).

main([NifDir, StubSrc, Mode]) ->
    RoundNs = case Mode of "quick" -> 5000000; _ -> 50000000 end,
    put(round_ns, RoundNs),
    put(errors, []),
    put(sizes, case Mode of "quick" -> [100, 1024, 10240]; _ -> [100, 1024, 10240, 102400, 1048576] end),
    %% Logger reports would land in the JSON on stdout; failures are noted instead.
    _ = logger:remove_handler(default),
    Rows = lists:append([nh_terms_rows(NifDir, StubSrc), jiffy_rows(), fxml_rows(),
                         stringprep_rows()]),
    io:format("{\"otp_release\": ~s, \"erts\": ~s, \"rows\": [~s], \"errors\": [~s]}~n",
              [json_str(erlang:system_info(otp_release)), json_str(erlang:system_info(version)),
               lists:join(",\n", [row_json(R) || R <- Rows]),
               lists:join(",", [json_str(E) || E <- lists:reverse(get(errors))])]);
main(_) ->
    io:format(standard_error, "usage: beam_side.escript NIF_DIR NIF_STUB_ERL quick|full~n", []),
    halt(2).

note_error(Fmt, Args) ->
    put(errors, [lists:flatten(io_lib:format(Fmt, Args)) | get(errors)]).

%% --- nh_terms, loaded through nif_stub -------------------------------------

%% nif_smoke.erl, beside nif_stub.erl, knows every function of each suite:
%% the BEAM refuses a library whose functions the module does not all export.
nh_terms_rows(NifDir, StubSrc) ->
    SmokeSrc = filename:join(filename:dirname(StubSrc), "nif_smoke.erl"),
    case {compile_load(StubSrc), compile_load(SmokeSrc)} of
        {ok, ok} ->
            Lib = filename:join(NifDir, "nh_terms"),
            case nif_stub:load(Lib, nh_terms, nif_smoke:functions(nh_terms), 0) of
                ok ->
                    %% The first row timed in a fresh VM comes out slow: a
                    %% throw-away round warms the schedulers up.
                    _ = time_row("warm-up", fun() -> nh_terms:noop() end),
                    [time_row("Call/beam/nh_terms:noop/0", fun() -> nh_terms:noop() end),
                     time_row("Call/beam/nh_terms:add/2", fun() -> nh_terms:add(40, 2) end)] ++
                    [begin
                         B = binary:copy(<<7>>, Size),
                         time_row("Call/beam/nh_terms:echo/" ++ integer_to_list(Size),
                                  fun() -> nh_terms:echo(B) end)
                     end || Size <- [0, 64, 1024, 65536, 1048576]];
                {error, Why} ->
                    note_error("nh_terms did not load in erl: ~p", [Why]),
                    []
            end;
        Error ->
            note_error("cannot compile the NIF stub: ~p", [Error]),
            []
    end.

compile_load(Src) ->
    case compile:file(Src, [binary, return_errors]) of
        {ok, Mod, Bin} ->
            {module, Mod} = code:load_binary(Mod, Src, Bin),
            ok;
        Error ->
            {Src, Error}
    end.

%% --- the real libraries -----------------------------------------------------

sizes() -> get(sizes).

%% A JSON document of at least Size bytes: an object holding an array of records.
json_doc(Size) -> json_doc(Size, 1).
json_doc(Size, N) ->
    Users = [#{<<"id">> => I, <<"name">> => <<"user", (integer_to_binary(I))/binary>>,
               <<"active">> => (I rem 2 =:= 0), <<"score">> => I * 1.5,
               <<"tags">> => [<<"a">>, <<"b">>]} || I <- lists:seq(1, N)],
    Doc = iolist_to_binary(jiffy:encode(#{<<"users">> => Users})),
    case byte_size(Doc) >= Size orelse N > 100000 of
        true -> Doc;
        false -> json_doc(Size, max(N + 1, N * Size div max(1, byte_size(Doc))))
    end.

jiffy_rows() ->
    try
        lists:append([begin
             Doc = json_doc(Size),
             Term = jiffy:decode(Doc, [return_maps]),
             S = integer_to_list(Size),
             [time_row("Call/beam/jiffy:decode/" ++ S, fun() -> jiffy:decode(Doc, [return_maps]) end),
              time_row("Call/beam/jiffy:encode/" ++ S, fun() -> jiffy:encode(Term) end)]
         end || Size <- sizes()])
    catch C:R ->
        note_error("jiffy: ~p:~p", [C, R]),
        []
    end.

fxml_rows() ->
    try
        {ok, _} = application:ensure_all_started(fast_xml),
        Stanza = iolist_to_binary(
                   ["<message to='juliet@example.com' from='romeo@example.net' type='chat'>",
                    [["<body>", integer_to_list(I), " wherefore art thou</body>"]
                     || I <- lists:seq(1, 24)],
                    "</message>"]),
        [time_row("Call/beam/fxml:parse_element/" ++ integer_to_list(byte_size(Stanza)),
                  fun() -> fxml_stream:parse_element(Stanza) end)]
    catch C:R ->
        note_error("fast_xml: ~p:~p", [C, R]),
        []
    end.

stringprep_rows() ->
    try
        {ok, _} = application:ensure_all_started(stringprep),
        Name = <<"Juliet.Capulet">>,
        [time_row("Call/beam/stringprep:nodeprep/" ++ integer_to_list(byte_size(Name)),
                  fun() -> stringprep:nodeprep(Name) end)]
    catch C:R ->
        note_error("stringprep: ~p:~p", [C, R]),
        []
    end.

%% --- timing -----------------------------------------------------------------

time_row(Name, F) ->
    N = calibrate(F, 1, get(round_ns)),
    Times = lists:sort([begin
                            S = erlang:monotonic_time(nanosecond),
                            loop(F, N, none),
                            (erlang:monotonic_time(nanosecond) - S) / N
                        end || _ <- lists:seq(1, ?ROUNDS)]),
    {Name, lists:nth((?ROUNDS + 1) div 2, Times), hd(Times), lists:last(Times), N}.

%% Grows N until N calls take a tenth of a round, then scales it to a round
%% (the growing loops double as the warm-up).
calibrate(F, N, RoundNs) ->
    T0 = erlang:monotonic_time(nanosecond),
    loop(F, N, none),
    T = max(1, erlang:monotonic_time(nanosecond) - T0),
    case T < RoundNs div 10 of
        true -> calibrate(F, N * 4, RoundNs);
        false -> max(1, N * RoundNs div T)
    end.

%% The last result is carried along so the calls cannot be dropped.
loop(_F, 0, Last) -> Last;
loop(F, K, _) -> loop(F, K - 1, F()).

row_json({Name, Median, Min, Max, N}) ->
    io_lib:format("{\"name\": ~s, \"median_ns\": ~.3f, \"min_ns\": ~.3f, \"max_ns\": ~.3f, "
                  "\"iterations\": ~b}", [json_str(Name), float(Median), float(Min),
                                           float(Max), N]).

json_str(S) ->
    [$", [esc(C) || C <- unicode:characters_to_list(iolist_to_binary(S))], $"].

esc($") -> "\\\"";
esc($\\) -> "\\\\";
esc(C) when C < 32 -> io_lib:format("\\u~4.16.0b", [C]);
esc(C) -> C.
