#!/usr/bin/env escript
%% build-releases.escript SRC OUT [name-vsn]
%%
%% Builds the sample release "gauge" from SRC/<vsn>/ for every version
%% directory, in version order, with OTP's own tools only (compile,
%% systools): OUT/gauge-<vsn>.tar.gz, each with ERTS, sys.config and a relup
%% from the version before it. Besides kernel, stdlib, sasl and gauge, a
%% version's .rel holds the OTP applications that SRC/<vsn>/rel_apps lists
%% (an Erlang term file: [runtime_tools].), which the tarball then carries.
%% Each version is built in its own directory because systools picks up
%% stray relup, start.boot and sys.config from the current directory. With
%% name-vsn the .rel, boot and relup files are named gauge-VSN, as OTP's
%% System Principles guide names them (ch_rel-1.rel), and systools keeps
%% that name inside the tarball.
-mode(compile).

main([Src0, Out0, "name-vsn"]) -> main(Src0, Out0, fun(Vsn) -> "gauge-" ++ Vsn end);
main([Src0, Out0]) -> main(Src0, Out0, fun(_) -> "gauge" end);
main(_) ->
    io:format(standard_error, "usage: build-releases.escript SRC OUT [name-vsn]~n", []),
    halt(2).

main(Src0, Out0, RelName) ->
    Src = filename:absname(Src0),
    Out = filename:absname(Out0),
    Vsns = lists:sort(fun newer/2, [V || V <- filelib:wildcard("*", Src),
                                         filelib:is_dir(filename:join(Src, V))]),
    ok = filelib:ensure_path(Out),
    Build = filename:absname(filename:join(Out, "build")),
    lists:foldl(fun(Vsn, Prev) ->
                        build(filename:join(Src, Vsn), Build, Out, Vsn, Prev, RelName),
                        Vsn
                end, none, lists:reverse(Vsns)),
    io:format("~n"),
    halt(0).

newer(A, B) -> parse(A) > parse(B).
parse(V) -> [list_to_integer(X) || X <- string:split(V, ".", all)].

build(Src, Build, Out, Vsn, Prev, RelName) ->
    Name = RelName(Vsn),
    App = filename:join([Build, "lib", "gauge-" ++ Vsn]),
    Ebin = filename:join(App, "ebin"),
    ok = filelib:ensure_path(Ebin),
    [{ok, _} = compile:file(F, [{outdir, Ebin}, debug_info, report_errors,
                                nowarn_everything])
     || F <- filelib:wildcard(filename:join([Src, "src", "*.erl"]))],
    {ok, _} = file:copy(filename:join([Src, "src", "gauge.app.src"]),
                        filename:join(Ebin, "gauge.app")),
    case filelib:is_file(filename:join([Src, "src", "gauge.appup"])) of
        true -> {ok, _} = file:copy(filename:join([Src, "src", "gauge.appup"]),
                                    filename:join(Ebin, "gauge.appup"));
        false -> ok
    end,
    RelDir = filename:join([Build, "releases", Vsn]),
    ok = filelib:ensure_path(RelDir),
    Rel = {release, {"gauge", Vsn}, {erts, erlang:system_info(version)},
           [{A, vsn(A)} || A <- [kernel, stdlib, sasl] ++ rel_apps(Src)] ++ [{gauge, Vsn}]},
    ok = file:write_file(filename:join(RelDir, Name ++ ".rel"),
                         io_lib:format("~p.~n", [Rel])),
    {ok, _} = file:copy(filename:join(Src, "sys.config"),
                        filename:join(RelDir, "sys.config")),
    ok = file:set_cwd(RelDir),
    Path = [filename:join(App, "ebin")],
    ok = systools:make_script(Name, [{path, Path}]),
    case Prev of
        none -> ok;
        _ ->
            PrevRel = filename:join([Build, "releases", Prev, RelName(Prev)]),
            PrevEbin = filename:join([Build, "lib", "gauge-" ++ Prev, "ebin"]),
            ok = systools:make_relup(Name, [PrevRel], [PrevRel],
                                     [{path, [PrevEbin | Path]}, {outdir, "."}])
    end,
    ok = systools:make_tar(Name, [{erts, code:root_dir()}, {path, Path},
                                  {outdir, RelDir}]),
    {ok, _} = file:copy(Name ++ ".tar.gz",
                        filename:join(Out, "gauge-" ++ Vsn ++ ".tar.gz")),
    io:format("built gauge-~s.tar.gz~n", [Vsn]).

%% rel_apps(Src): the OTP applications that SRC/VSN/rel_apps (one term, a
%% list of names: [runtime_tools].) adds to the release besides kernel,
%% stdlib and sasl, at the versions installed here; none without the file.
%% systools finds them in this node's code path, as it does kernel's.
rel_apps(Src) ->
    case file:consult(filename:join(Src, "rel_apps")) of
        {ok, [Apps]} ->
            true = lists:all(fun is_atom/1, Apps),
            Apps;
        {error, enoent} -> []
    end.

vsn(App) ->
    _ = application:load(App),
    {ok, V} = application:get_key(App, vsn),
    V.
