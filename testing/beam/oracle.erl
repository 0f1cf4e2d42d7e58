%% oracle: the real BEAM answering questions for nifhost's tests and benchmarks.
%%
%% nifhost re-implements the term codec, term order, hashing and the NIF API;
%% this module lets its tests ask the real VM the same questions and compare
%% the answers byte for byte. It deliberately speaks plain text lines with hex
%% payloads, so checking nifhost never depends on nifhost's own codec.
%%
%% Started as: erl -noshell -noinput -pa DIR -s oracle main
%% One request per line on standard input, one answer line per request on
%% standard output, in order. The requests and answers are listed in
%% testing/include/nifhost/testing/beam_oracle.hpp.
%%
%% Everything else the VM might print (logger reports, io from called code)
%% is sent to standard error so that standard output carries answers only.
-module(oracle).

-export([main/0]).

%% Lines are read in chunks of this size; a longer line arrives as several
%% noeol pieces, so a 32 MiB hex payload is just many pieces.
-define(CHUNK, 65536).
%% Timing: each measurement runs this many rounds and reports the median.
-define(ROUNDS, 7).
%% Holds load infos and on_load results for generated NIF stub modules.
-define(NIF_TABLE, oracle_nif).
-define(ON_LOAD, '$nifhost_on_load').

main() ->
    %% The process running -s belongs to init's boot; serve from our own.
    _ = spawn(fun serve/0),
    ok.

serve() ->
    divert_output(),
    _ = ets:new(?NIF_TABLE, [named_table, public, set]),
    Port = open_port({fd, 0, 1}, [{line, ?CHUNK}, binary, eof]),
    loop(Port, spawn_caller(), []).

divert_output() ->
    case whereis(standard_error) of
        undefined -> ok;
        Err -> group_leader(Err, self())
    end,
    _ = logger:remove_handler(default),
    _ = logger:add_handler(default, logger_std_h, #{config => #{type => standard_error}}),
    ok.

loop(Port, Caller, Acc) ->
    receive
        {Port, {data, {noeol, Part}}} ->
            loop(Port, Caller, [Part | Acc]);
        {Port, {data, {eol, Part}}} ->
            Line = iolist_to_binary(lists:reverse(Acc, [Part])),
            case handle_line(Line, Caller) of
                quit ->
                    erlang:halt(0);
                {Reply, Caller2} ->
                    true = port_command(Port, [Reply, $\n]),
                    loop(Port, Caller2, [])
            end;
        {Port, eof} ->
            erlang:halt(0);
        {'DOWN', MRef, process, _, _} when MRef =:= element(2, Caller) ->
            %% Killed between requests (say by a link set up by called code).
            loop(Port, spawn_caller(), Acc);
        _Stray ->
            %% Anything else (a message a NIF sent to this process) is dropped.
            loop(Port, Caller, Acc)
    end.

handle_line(Line0, Caller) ->
    Line = strip_cr(Line0),
    try
        request(binary:split(Line, <<" ">>, [global]), Caller)
    catch
        throw:{bad_request, Text} ->
            {error_reply(Text), Caller};
        Class:Reason ->
            {error_reply(fmt("bad request: ~p:~tP", [Class, Reason, 20])), Caller}
    end.

strip_cr(Line) ->
    case byte_size(Line) of
        N when N > 0, binary_part(Line, N - 1, 1) =:= <<"\r">> -> binary_part(Line, 0, N - 1);
        _ -> Line
    end.

%% --- requests --------------------------------------------------------------

request([<<"quit">>], _Caller) ->
    quit;
request([<<"version">>], Caller) ->
    Text = fmt("~s ~s", [erlang:system_info(otp_release), erlang:system_info(version)]),
    {ok_reply([text(Text)]), Caller};
request([<<"encode_text">>, H], Caller) ->
    {encode_text(unicode:characters_to_list(unhex(H, 1))), Caller};
request([<<"roundtrip">>, H], Caller) ->
    {decode(unhex(H, 1), [], fun(T) -> ok_reply([hex(term_to_binary(T))]) end), Caller};
request([<<"roundtrip_safe">>, H], Caller) ->
    {decode(unhex(H, 1), [safe], fun(T) -> ok_reply([hex(term_to_binary(T))]) end), Caller};
request([<<"decode_check">>, H], Caller) ->
    {decode(unhex(H, 1), [], fun(_) -> ok_reply([]) end), Caller};
request([<<"used">>, H], Caller) ->
    {decode(unhex(H, 1), [used], fun({_, Used}) -> ok_reply([integer_to_binary(Used)]) end),
     Caller};
request([<<"print">>, H], Caller) ->
    Print = fun(T) ->
        ok_reply([hex(unicode:characters_to_binary(io_lib:format("~100000p", [T])))])
    end,
    {decode(unhex(H, 1), [], Print), Caller};
request([<<"compare">>, HA, HB], Caller) ->
    A = term(unhex(HA, 1), 1),
    B = term(unhex(HB, 2), 2),
    Order = if A < B -> <<"-1">>; A > B -> <<"1">>; true -> <<"0">> end,
    {ok_reply([Order, bool(A == B), bool(A =:= B)]), Caller};
request([<<"phash2">>, H], Caller) ->
    {decode(unhex(H, 1), [], fun(T) -> ok_reply([integer_to_binary(erlang:phash2(T))]) end),
     Caller};
request([<<"maps_to_list">>, H], Caller) ->
    ToList = fun
        (M) when is_map(M) -> ok_reply([hex(term_to_binary(maps:to_list(M)))]);
        (_) -> error_reply("not a map")
    end,
    {decode(unhex(H, 1), [], ToList), Caller};
request([<<"load_nif">>, HPath, HMod, HFuns, HInfo], Caller) ->
    Path = unicode:characters_to_list(unhex(HPath, 1)),
    Mod = atom(unhex(HMod, 2)),
    Funs = functions(unhex(HFuns, 3)),
    Info = term(unhex(HInfo, 4), 4),
    {load_nif(Path, Mod, Funs, Info), Caller};
request([<<"call">>, HMod, HFun, HArgs], Caller) ->
    M = atom(unhex(HMod, 1)),
    F = atom(unhex(HFun, 2)),
    Args = args(unhex(HArgs, 3)),
    Run = fun() ->
        try
            {ok, apply(M, F, Args)}
        catch
            Class:Reason -> {exception, Class, Reason}
        end
    end,
    in_caller(Run, fun call_reply/1, Caller);
request([<<"flush">>], Caller) ->
    in_caller(fun() -> drain([]) end, fun(Msgs) -> ok_reply([hex(term_to_binary(Msgs))]) end,
              Caller);
request([<<"time_call">>, HMod, HFun, HArgs, HIter], Caller) ->
    M = atom(unhex(HMod, 1)),
    F = atom(unhex(HFun, 2)),
    Args = args(unhex(HArgs, 3)),
    N = iterations(HIter),
    Run = fun() ->
        %% One checked call first: a call that raises is reported, not timed.
        try apply(M, F, Args) of
            _ -> {timing, rounds(fun() -> apply_loop(M, F, Args, N) end, N)}
        catch
            Class:Reason -> {exception, Class, Reason}
        end
    end,
    in_caller(Run, fun call_reply/1, Caller);
request([<<"time_etf">>, H, HIter], Caller) ->
    B = unhex(H, 1),
    T = term(B, 1),
    N = iterations(HIter),
    Run = fun() ->
        {Enc, _, _} = rounds(fun() -> encode_loop(T, N) end, N),
        {Dec, _, _} = rounds(fun() -> decode_loop(B, N) end, N),
        {Enc, Dec}
    end,
    in_caller(Run, fun({Enc, Dec}) -> ok_reply([ns(Enc), ns(Dec)]) end, Caller);
request([Name | _], _Caller) ->
    Known = [<<"quit">>, <<"version">>, <<"encode_text">>, <<"roundtrip">>,
             <<"roundtrip_safe">>, <<"decode_check">>, <<"used">>, <<"print">>, <<"compare">>,
             <<"phash2">>, <<"maps_to_list">>, <<"load_nif">>, <<"call">>, <<"flush">>,
             <<"time_call">>, <<"time_etf">>],
    case lists:member(Name, Known) of
        true -> throw({bad_request, fmt("wrong number of fields for ~s", [Name])});
        false ->
            Shown = binary_part(Name, 0, min(byte_size(Name), 40)),
            throw({bad_request, fmt("unknown request ~tp", [binary_to_list(Shown)])})
    end.

%% --- term text and ETF -----------------------------------------------------

encode_text(Text) ->
    case erl_scan:string(Text ++ ".") of
        {ok, Tokens, _} ->
            case erl_parse:parse_term(Tokens) of
                {ok, T} -> ok_reply([hex(term_to_binary(T))]);
                {error, {_, Mod, Desc}} -> error_reply(Mod:format_error(Desc))
            end;
        {error, {_, Mod, Desc}, _} ->
            error_reply(Mod:format_error(Desc))
    end.

decode(B, Opts, Then) ->
    try binary_to_term(B, Opts) of
        T -> Then(T)
    catch
        error:Reason -> error_reply(fmt("~tP", [Reason, 20]))
    end.

%% A field that must hold a valid term: a bad one makes the request malformed.
term(B, Field) ->
    try
        binary_to_term(B)
    catch
        error:_ -> throw({bad_request, fmt("field ~b is not a valid external term", [Field])})
    end.

args(B) ->
    case term(B, 3) of
        L when is_list(L) ->
            try length(L) of
                _ -> L
            catch
                error:badarg -> throw({bad_request, "arguments are not a proper list"})
            end;
        _ ->
            throw({bad_request, "arguments are not a list"})
    end.

atom(Bin) ->
    try
        binary_to_atom(Bin, utf8)
    catch
        error:_ -> throw({bad_request, "not a valid atom name"})
    end.

iterations(H) ->
    try binary_to_integer(H) of
        N when N >= 1 -> N;
        _ -> throw({bad_request, "iterations must be at least 1"})
    catch
        error:badarg -> throw({bad_request, "iterations is not a decimal integer"})
    end.

bool(true) -> <<"1">>;
bool(false) -> <<"0">>.

%% --- the caller process ----------------------------------------------------
%%
%% Calls run in one long-lived process, so that what a NIF sends to self()
%% waits in that process's mailbox until a flush request drains it.

spawn_caller() ->
    spawn_monitor(fun caller_loop/0).

caller_loop() ->
    receive
        {'$oracle_run', From, Ref, Run} ->
            From ! {Ref, Run()},
            caller_loop()
    end.

in_caller(Run, Reply, {Pid, MRef} = Caller) ->
    Ref = make_ref(),
    Pid ! {'$oracle_run', self(), Ref, Run},
    receive
        {Ref, Result} ->
            {Reply(Result), Caller};
        {'DOWN', MRef, process, Pid, Why} ->
            {error_reply(fmt("caller process died: ~tP", [Why, 20])), spawn_caller()}
    end.

call_reply({ok, Result}) ->
    ok_reply([hex(term_to_binary(Result))]);
call_reply({exception, Class, Reason}) ->
    [<<"exception ">>, atom_to_binary(Class), $\s, hex(term_to_binary(Reason))];
call_reply({timing, {Median, Min, Max}}) ->
    ok_reply([ns(Median), ns(Min), ns(Max)]).

drain(Acc) ->
    receive
        Msg -> drain([Msg | Acc])
    after 0 ->
        lists:reverse(Acc)
    end.

%% --- timing ----------------------------------------------------------------

rounds(Run, N) ->
    Times = lists:sort([begin
                            T0 = erlang:monotonic_time(nanosecond),
                            Run(),
                            (erlang:monotonic_time(nanosecond) - T0) / N
                        end || _ <- lists:seq(1, ?ROUNDS)]),
    {lists:nth((?ROUNDS + 1) div 2, Times), hd(Times), lists:last(Times)}.

%% Each loop carries the last result along: the compiler drops a call to a
%% pure BIF such as term_to_binary/1 whose result is never used.
apply_loop(M, F, Args, N) -> apply_loop(M, F, Args, N, none).

apply_loop(_M, _F, _Args, 0, Last) -> Last;
apply_loop(M, F, Args, K, _) -> apply_loop(M, F, Args, K - 1, apply(M, F, Args)).

encode_loop(T, N) -> encode_loop(T, N, none).

encode_loop(_T, 0, Last) -> Last;
encode_loop(T, K, _) -> encode_loop(T, K - 1, term_to_binary(T)).

decode_loop(B, N) -> decode_loop(B, N, none).

decode_loop(_B, 0, Last) -> Last;
decode_loop(B, K, _) -> decode_loop(B, K - 1, binary_to_term(B)).

ns(X) -> float_to_binary(float(X), [{decimals, 3}]).

%% --- NIF stub modules ------------------------------------------------------
%%
%% erlang:load_nif/2 must be called from the module the library belongs to,
%% so each load generates a module with a stub for every NIF function and an
%% on_load function that loads the library. The load info travels through an
%% ETS table (any term, even a pid, survives that), and the on_load function
%% records load_nif's answer there: code:load_binary only says that on_load
%% failed, not why.

functions(<<>>) ->
    [];
functions(Bin) ->
    [function(F) || F <- binary:split(Bin, <<",">>, [global])].

function(Spec) ->
    case string:split(Spec, <<"/">>, trailing) of
        [Name, Arity] when Name =/= <<>> ->
            try binary_to_integer(Arity) of
                A when A >= 0, A =< 255 -> {atom(Name), A};
                _ -> throw({bad_request, fmt("bad arity in ~ts", [Spec])})
            catch
                error:badarg -> throw({bad_request, fmt("bad arity in ~ts", [Spec])})
            end;
        _ ->
            throw({bad_request, fmt("function ~ts is not name/arity", [Spec])})
    end.

load_nif(_Path, oracle, _Funs, _Info) ->
    error_reply("refusing to replace the oracle module");
load_nif(Path, Mod, Funs, Info) ->
    case lists:keymember(?ON_LOAD, 1, Funs) of
        true -> error_reply(fmt("~tw is reserved for the stub's on_load function", [?ON_LOAD]));
        false -> load_stub(Path, Mod, Funs, Info)
    end.

load_stub(Path, Mod, Funs, Info) ->
    case compile:forms(stub_forms(Path, Mod, Funs), [binary, return_errors]) of
        {ok, Mod, Beam} ->
            true = ets:insert(?NIF_TABLE, {{info, Mod}, Info}),
            ets:delete(?NIF_TABLE, {result, Mod}),
            %% A previous stub becomes old code; older code must go first.
            _ = code:purge(Mod),
            case code:load_binary(Mod, "nif_stub_" ++ atom_to_list(Mod), Beam) of
                {module, Mod} ->
                    ok_reply([]);
                {error, on_load_failure} ->
                    case ets:lookup(?NIF_TABLE, {result, Mod}) of
                        [{_, {error, {Reason, Text}}}] ->
                            error_reply(fmt("~tw ~ts", [Reason, Text]));
                        [{_, Other}] ->
                            error_reply(fmt("on_load returned ~tP", [Other, 20]));
                        [] ->
                            error_reply("on_load failed")
                    end;
                {error, Why} ->
                    error_reply(fmt("cannot load module ~tw: ~tP", [Mod, Why, 20]))
            end;
        {error, Errors, _Warnings} ->
            error_reply(fmt("cannot compile stub: ~tP", [Errors, 20]))
    end.

stub_forms(Path, Mod, Funs) ->
    L = erl_anno:new(1),
    Remote = fun(M, F, Args) -> {call, L, {remote, L, {atom, L, M}, {atom, L, F}}, Args} end,
    R = {var, L, 'R'},
    Info = Remote(ets, lookup_element, [{atom, L, ?NIF_TABLE}, abstract({info, Mod}),
                                        {integer, L, 2}]),
    Load = Remote(erlang, load_nif, [abstract(Path), Info]),
    Record = Remote(ets, insert, [{atom, L, ?NIF_TABLE}, {tuple, L, [abstract({result, Mod}), R]}]),
    OnLoad = {function, L, ?ON_LOAD, 0, [{clause, L, [], [], [{match, L, R, Load}, Record, R]}]},
    NotLoaded = Remote(erlang, nif_error, [{atom, L, nif_not_loaded}]),
    Stubs = [{function, L, F, A, [{clause, L, [{var, L, '_'} || _ <- lists:seq(1, A)], [],
                                   [NotLoaded]}]}
             || {F, A} <- Funs],
    [{attribute, L, module, Mod},
     {attribute, L, export, Funs},
     {attribute, L, on_load, {?ON_LOAD, 0}},
     OnLoad | Stubs].

abstract(T) -> erl_parse:abstract(T, [{line, 1}]).

%% --- replies and hex -------------------------------------------------------

ok_reply(Fields) -> [<<"ok">> | [[$\s, F] || F <- Fields]].

error_reply(Text) -> [<<"error ">>, text(Text)].

text(Chars) -> hex(unicode:characters_to_binary(Chars)).

fmt(Format, Args) -> io_lib:format(Format, Args).

%% Lowercase hex. Payloads reach tens of MiB, so large ones go through lookup
%% tables (built on first use) that handle two bytes or two digits at a time.
hex(B) when byte_size(B) < 4096 ->
    << <<(digit(H)), (digit(L))>> || <<H:4, L:4>> <= B >>;
hex(B) ->
    {T16, T8} = hex_tables(),
    Even = byte_size(B) - byte_size(B) rem 2,
    <<Main:Even/binary, Tail/binary>> = B,
    <<(<< <<(element(X + 1, T16)):32>> || <<X:16>> <= Main >>)/binary,
      (<< <<(element(X + 1, T8)):16>> || <<X>> <= Tail >>)/binary>>.

digit(N) when N < 10 -> $0 + N;
digit(N) -> $a - 10 + N.

hex_tables() ->
    case get(hex_tables) of
        undefined ->
            T8 = list_to_tuple([(digit(I bsr 4) bsl 8) bor digit(I band 15) || I <- lists:seq(0, 255)]),
            T16 = list_to_tuple([(element(I bsr 8 + 1, T8) bsl 16) bor element(I band 255 + 1, T8)
                                 || I <- lists:seq(0, 65535)]),
            put(hex_tables, {T16, T8}),
            {T16, T8};
        Tables ->
            Tables
    end.

unhex(H, Field) ->
    try
        unhex(H)
    catch
        error:_ -> throw({bad_request, fmt("field ~b is not hex", [Field])})
    end.

unhex(H) when byte_size(H) rem 2 =/= 0 ->
    error(badarg);
unhex(H) when byte_size(H) < 8192 ->
    binary:decode_hex(H);
unhex(H) ->
    %% Invalid digit pairs map to an atom, which fails the binary construction.
    T = unhex_table(),
    << <<(element(X + 1, T))>> || <<X:16>> <= H >>.

unhex_table() ->
    case get(unhex_table) of
        undefined ->
            T = list_to_tuple([pair(I bsr 8, I band 255) || I <- lists:seq(0, 65535)]),
            put(unhex_table, T),
            T;
        T ->
            T
    end.

pair(A, B) ->
    case {value(A), value(B)} of
        {VA, VB} when is_integer(VA), is_integer(VB) -> VA * 16 + VB;
        _ -> invalid
    end.

value(C) when C >= $0, C =< $9 -> C - $0;
value(C) when C >= $a, C =< $f -> C - $a + 10;
value(C) when C >= $A, C =< $F -> C - $A + 10;
value(_) -> invalid.
