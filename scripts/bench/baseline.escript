#!/usr/bin/env escript
%%! -hidden
%% baseline.escript NODE COOKIE ROOT TARBALL NAME VSN
%%
%% The plain Erlang baseline of make bench: the release_handler calls
%% beamupd makes for a hot upgrade, on the same node and release, with
%% nothing else: copy, RELEASES, unpack, check, install, make permanent.
main([Node0, Cookie, Root, Tarball, Name, Vsn]) ->
    Node = list_to_atom(Node0),
    {ok, _} = net_kernel:start([list_to_atom("baseline" ++ os:getpid() ++ "@127.0.0.1"), longnames]),
    erlang:set_cookie(node(), list_to_atom(Cookie)),
    Base = filename:join([Root, "releases", Name ++ "-" ++ Vsn]),
    {ok, _} = file:copy(Tarball, Base ++ ".tar.gz"),
    {ok, Rel} = erl_tar:extract(Tarball, [compressed, memory,
                                          {files, ["releases/" ++ Vsn ++ "/" ++ Name ++ ".rel"]}]),
    [{_, RelData}] = Rel,
    ok = file:write_file(Base ++ ".rel", RelData),
    Call = fun(M, F, A) -> rpc:call(Node, M, F, A, 60000) end,
    {Name, Running} = Call(init, script_id, []),
    ok = Call(release_handler, create_RELEASES,
              [Root, Root ++ "/releases", Root ++ "/releases/" ++ Running ++ "/" ++ Name ++ ".rel", []]),
    ok = Call(supervisor, terminate_child, [sasl_sup, release_handler]),
    {ok, _} = Call(supervisor, restart_child, [sasl_sup, release_handler]),
    {ok, Vsn} = Call(release_handler, unpack_release, [Name ++ "-" ++ Vsn]),
    {ok, _, _} = Call(release_handler, check_install_release, [Vsn]),
    {ok, _, _} = Call(release_handler, install_release, [Vsn]),
    ok = Call(release_handler, make_permanent, [Vsn]),
    halt(0).
