%% nif_stub: loads a NIF library into the running BEAM.
%%
%% erlang:load_nif/2 only works from the module the library belongs to, so
%% load/4 generates that module: one stub per NIF function (raising
%% nif_not_loaded, as a hand-written module would) and an on_load function
%% that calls erlang:load_nif(Path, LoadInfo). The module is compiled in
%% memory and loaded with code:load_binary/3.
%%
%%   ok = nif_stub:load("/build/nifs/nh_terms", nh_terms, [{noop, 0}], []),
%%   ok = nh_terms:noop().
%%
%% Loading a module that is already loaded is a code upgrade: the BEAM calls
%% the library's upgrade callback. Older code is purged first (which unloads
%% the library instance it held), so load/4 can be called any number of
%% times. unload/1 removes the module and with it the library.
%%
%% The library must define exactly the functions listed: the BEAM refuses a
%% library with a function the module does not export.
-module(nif_stub).

-export([load/4, unload/1, forms/3]).

-define(ON_LOAD, '$nif_stub_on_load').
%% How long to wait for the on_load function's report once code:load_binary
%% has returned (it is sent before on_load returns, so normally at once).
-define(REPORT_TIMEOUT_MS, 5000).

-spec load(SoPathWithoutExt :: file:filename(), Module :: module(),
           Functions :: [{atom(), arity()}], LoadInfo :: term()) ->
          ok | {error, term()}.
load(SoPath, Module, Functions, LoadInfo) when is_atom(Module), is_list(Functions) ->
    case lists:keymember(?ON_LOAD, 1, Functions) of
        true ->
            {error, {reserved_function_name, ?ON_LOAD}};
        false ->
            Ref = make_ref(),
            %% The on_load function reports load_nif's answer to us: on
            %% failure code:load_binary/3 only says on_load_failure.
            Context = {self(), Ref, LoadInfo},
            case compile:forms(forms(SoPath, Module, Functions, Context),
                               [binary, return_errors]) of
                {ok, Module, Beam} ->
                    _ = code:purge(Module),
                    Loaded = code:load_binary(Module, stub_file(Module), Beam),
                    Report = receive
                                 {?MODULE, Ref, R} -> R
                             after ?REPORT_TIMEOUT_MS -> no_report
                             end,
                    result(Loaded, Report);
                {error, Errors, _Warnings} ->
                    {error, {compile, Errors}}
            end
    end.

result({module, _}, _) -> ok;
result({error, on_load_failure}, {error, Reason}) -> {error, Reason};
result({error, on_load_failure}, Other) -> {error, {on_load_failure, Other}};
result({error, Why}, _) -> {error, Why}.

%% Removes Module (current and old code), which unloads its library.
-spec unload(module()) -> ok.
unload(Module) ->
    _ = code:purge(Module),
    _ = code:delete(Module),
    _ = code:purge(Module),
    ok.

%% The stub module's abstract forms (without the load report), e.g. to
%% inspect what load/4 compiles.
-spec forms(file:filename(), module(), [{atom(), arity()}]) -> [erl_parse:abstract_form()].
forms(SoPath, Module, Functions) ->
    forms(SoPath, Module, Functions, {undefined, undefined, []}).

forms(SoPath, Module, Functions, {Caller, Ref, LoadInfo}) ->
    L = erl_anno:new(1),
    Call = fun(M, F, Args) -> {call, L, {remote, L, {atom, L, M}, {atom, L, F}}, Args} end,
    Var = fun(Name) -> {var, L, Name} end,
    %% Load info, caller and ref travel as an external-term literal, so any
    %% term (pids and refs included) survives the trip into the module.
    Context = Call(erlang, binary_to_term, [abstract(term_to_binary({Caller, Ref, LoadInfo}))]),
    Report = case Caller of
                 undefined -> [];
                 _ -> [{op, L, '!', Var('Caller'),
                        {tuple, L, [{atom, L, ?MODULE}, Var('Ref'), Var('Result')]}}]
             end,
    OnLoad = {function, L, ?ON_LOAD, 0,
              [{clause, L, [], [],
                [{match, L, {tuple, L, [Var('Caller'), Var('Ref'), Var('Info')]}, Context},
                 {match, L, Var('Result'),
                  Call(erlang, load_nif, [abstract(SoPath), Var('Info')])}]
                ++ Report ++ [Var('Result')]}]},
    NotLoaded = Call(erlang, nif_error, [{atom, L, nif_not_loaded}]),
    Stubs = [{function, L, F, A,
              [{clause, L, [{var, L, '_'} || _ <- lists:seq(1, A)], [], [NotLoaded]}]}
             || {F, A} <- Functions],
    [{attribute, L, module, Module},
     {attribute, L, export, Functions},
     {attribute, L, on_load, {?ON_LOAD, 0}},
     OnLoad | Stubs].

abstract(Term) -> erl_parse:abstract(Term, [{line, 1}]).

stub_file(Module) -> "nif_stub_" ++ atom_to_list(Module).
